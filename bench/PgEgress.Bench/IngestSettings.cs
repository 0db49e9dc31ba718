namespace PgEgress.Bench;

/// <summary>What the ingest benchmark loads.</summary>
public sealed record IngestSettings : BenchSettings
{
    public long Rows { get; init; } = 1_000_000;

    /// <summary>The rows are spread evenly over this many transactions; 1 is the workload.</summary>
    public int Transactions { get; init; } = 1;
}
