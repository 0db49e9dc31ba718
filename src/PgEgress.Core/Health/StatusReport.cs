using PgEgress.Core.Batching;
using PgEgress.Core.Clients;
using PgEgress.Core.Output;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Health;

/// <param name="RetainedWalBytes">WAL the slot holds on the source: current WAL position minus restart_lsn.</param>
/// <param name="LagBytes">WAL written on the source that the slot has not confirmed: current WAL position minus confirmed_flush_lsn.</param>
public sealed record SlotStatus(string Name, bool Exists, bool Active, string? ConfirmedFlushLsn, string? RestartLsn, long? RetainedWalBytes, long? LagBytes);

/// <param name="FlushError">Why the last flush could not write this table's files (null when it could); see <see cref="FlushFailureStatus"/>.</param>
public sealed record TableStatus(string Table, string Mode, int SchemaVersion, long Files, long Rows, long Bytes, string? LastBatch, string? LastEndLsn,
    string? FlushError);

/// <summary>A table the flush cannot write: its changes after <paramref name="RetryFromLsn"/> stay staged and every flush retries it.</summary>
public sealed record FlushFailureStatus(string Table, string Error, string RetryFromLsn, DateTime FirstFailedAt, DateTime LastFailedAt, int Attempts);

/// <param name="LastErrorKind"><c>transient</c> or <c>permanent</c>, of <paramref name="LastError"/>.</param>
/// <param name="Errors">Each component of this process failing now (transient or permanent), since when and how often.</param>
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
    string? LastErrorKind,
    DateTime? LastErrorAt,
    IReadOnlyList<TableStatus> Tables,
    IReadOnlyList<FlushFailureStatus> FlushFailures,
    IReadOnlyList<OperationStatus> Operations,
    IReadOnlyList<SinkStatus> Sinks,
    IReadOnlyList<ConsumerLag> Lag,
    IReadOnlyList<LagPoint> LagHistory,
    IReadOnlyList<ComponentFailure> Errors,
    IReadOnlyList<ClientStatus> Clients)
{
    /// <summary>The newest verification of each table that has one (its discrepancy sample at /api/verifications/{id}).</summary>
    public IReadOnlyList<Verification.VerificationRecord> Verifications { get; init; } = [];
}

/// <param name="LagBytes">Staged WAL the sink has yet to deliver.</param>
/// <param name="LagSeconds">Age of the oldest undelivered commit (of its segment's registration when this process does not run the sink); 0 when caught up.</param>
/// <param name="Delivered">Events delivered (rows applied for Postgres) by this process since it started; likewise Retried and DeadLettered.</param>
public sealed record SinkStatus(string Name, string Kind, bool Enabled, string? CursorLsn, long LagBytes, double? LagSeconds,
    long Delivered, long Retried, long DeadLettered, string? LastError, string? LastErrorKind, DateTime? LastErrorAt);

public sealed record ReadinessCheck(string Name, bool Ok, string Detail);

public sealed record ReadinessReport(bool Ready, IReadOnlyList<ReadinessCheck> Checks);

public sealed record SliceStatus(string StartLsn, string EndLsn, int Transactions, long Changes, long Bytes, string AcknowledgedLsn,
    string? Segment, DateTime StartedAt, double DurationMs)
{
    public static SliceStatus From(SliceResult s) => new(PgText.Lsn(s.StartLsn), PgText.Lsn(s.EndLsn), s.Transactions, s.Changes, s.Bytes,
        PgText.Lsn(s.AcknowledgedLsn), s.Segment, s.StartedAt, s.Duration.TotalMilliseconds);
}
