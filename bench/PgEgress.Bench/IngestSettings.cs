namespace PgEgress.Bench;

/// <summary>What the ingest benchmark loads and how often it runs each contender.</summary>
public sealed record IngestSettings
{
    public long Rows { get; init; } = 1_000_000;

    /// <summary>The rows are spread evenly over this many transactions; 1 is the workload.</summary>
    public int Transactions { get; init; } = 1;

    public int Runs { get; init; } = 3;

    /// <summary>Keep the work folder (staged segments, spool) for inspection.</summary>
    public bool Keep { get; init; }
}
