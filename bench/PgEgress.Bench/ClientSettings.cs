namespace PgEgress.Bench;

/// <summary>What the clients benchmark stages, how many clients read at once, and how fast its latency writer inserts.</summary>
public sealed record ClientSettings : BenchSettings
{
    /// <summary>Throughput part: single-row insert events staged before the timed reads, 100 per transaction.</summary>
    public long Events { get; init; } = 200_000;

    /// <summary>Throughput part: clients reading the whole change set at the same time.</summary>
    public int Clients { get; init; } = 20;

    /// <summary>Latency part: changes per second, in transactions of 10 rows.</summary>
    public int Rate { get; init; } = 1_000;

    public int Seconds { get; init; } = 20;
}
