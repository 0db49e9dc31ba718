namespace PgEgress.Core.Health;

/// <summary>How far one consumer is behind: "ingest" (the slot), "flush" (batch files) or "sink:{name}".</summary>
/// <param name="Bytes">WAL still to consume: for ingest, the source's current WAL position minus what the slot confirmed;
/// for the staged log's consumers, the staged position minus the consumer's cursor. Null when unknown (no slot).</param>
/// <param name="Seconds">For ingest, the age of the newest commit known staged (null before this process ran a slice); for
/// the others, the age of the oldest change they have yet to consume (0 when caught up). The flush is behind by design
/// up to a batch interval.</param>
public sealed record ConsumerLag(string Consumer, long? Bytes, double? Seconds);
