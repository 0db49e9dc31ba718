using PgEgress.Core.Batching;
using PgEgress.Core.Output;
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
    SliceStatus? LastSlice,
    FlushResult? LastFlush,
    string? LastError,
    DateTime? LastErrorAt,
    IReadOnlyList<TableStatus> Tables,
    IReadOnlyList<OperationStatus> Operations);

public sealed record ReadinessCheck(string Name, bool Ok, string Detail);

public sealed record ReadinessReport(bool Ready, IReadOnlyList<ReadinessCheck> Checks);

public sealed record SliceStatus(string StartLsn, string EndLsn, int Transactions, long Changes, long Bytes, string AcknowledgedLsn,
    string? Segment, DateTime StartedAt, double DurationMs)
{
    public static SliceStatus From(SliceResult s) => new(PgText.Lsn(s.StartLsn), PgText.Lsn(s.EndLsn), s.Transactions, s.Changes, s.Bytes,
        PgText.Lsn(s.AcknowledgedLsn), s.Segment, s.StartedAt, s.Duration.TotalMilliseconds);
}
