namespace PgEgress.Core.Registry;

/// <summary>
/// What an event sink has finished of one transaction after its cursor (delivered, dead-lettered or filtered out), by
/// the events' seq: every seq up to <paramref name="Through"/>, and seq Through + 1 + i for each bit i set in
/// <paramref name="After"/> (least significant bit first).
/// </summary>
public sealed record PartialTransaction(ulong EndLsn, int Through, byte[] After);
