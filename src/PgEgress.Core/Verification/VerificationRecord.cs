namespace PgEgress.Core.Verification;

/// <summary>A row of cdc_registry.verifications, as /api/verifications/{id} shows it (with a sample of its discrepancies).</summary>
public sealed record VerificationRecord(long Id, string Table, string State, string RequestedBy, bool Repair, string? ConsistentLsn,
    long? RowsScanned, long? FileRows, long? BucketsCompared, long? BucketsBisected, long? MissingInFiles, long? OnlyInFiles, long? Different,
    double? DurationSeconds, string? Error, string? RepairPath, long? ReloadOperationId, DateTime RequestedAt, DateTime? StartedAt, DateTime? FinishedAt)
{
    public const string Requested = "requested", Running = "running", Completed = "completed", Skipped = "skipped", Failed = "failed";

    public List<Discrepancy>? Discrepancies { get; init; }
}
