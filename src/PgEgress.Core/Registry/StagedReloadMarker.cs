namespace PgEgress.Core.Registry;

/// <summary>
/// A reload request as its marker in the WAL tells it, with where the consumer staged it: the end LSN of the marker's
/// transaction. <paramref name="Request"/> is null for a marker written before registry version 4, which names only
/// the operation.
/// </summary>
public sealed record StagedReloadMarker(long Operation, ulong MarkerLsn, ReloadMarkerRequest? Request);
