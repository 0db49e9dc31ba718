using PgEgress.Core.Batching;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Health;

public sealed record SlotStatus(string Name, bool Exists, bool Active, string? ConfirmedFlushLsn, string? RestartLsn, long? RetainedWalBytes);

public sealed record TableStatus(string Table, string Mode, int SchemaVersion, long Files, long Rows, long Bytes, string? LastBatch, string? LastEndLsn);

public sealed record StatusReport(
    SlotStatus Slot,
    string StagedLsn,
    string FlushedLsn,
    int PendingSegments,
    long PendingSegmentBytes,
    DateTime? LastFlushCut,
    DateTime? LastFlushAt,
    SliceResult? LastSlice,
    FlushResult? LastFlush,
    string? LastError,
    DateTime? LastErrorAt,
    IReadOnlyList<TableStatus> Tables);

public sealed record ReadinessCheck(string Name, bool Ok, string Detail);

public sealed record ReadinessReport(bool Ready, IReadOnlyList<ReadinessCheck> Checks);
