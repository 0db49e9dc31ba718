namespace PgEgress.Core.Registry;

/// <summary>An event sink's position: every transaction ending at or before <paramref name="Lsn"/> is done, and of the ones after it, <paramref name="Partial"/>.</summary>
public sealed record SinkCursor(ulong Lsn, IReadOnlyList<PartialTransaction> Partial);
