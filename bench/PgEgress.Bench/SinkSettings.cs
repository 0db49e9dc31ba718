namespace PgEgress.Bench;

/// <summary>What the sinks benchmark stages, how fast its latency writer inserts, and how often it repeats the throughput runs.</summary>
public sealed record SinkSettings
{
    /// <summary>Throughput part: single-row insert events staged before the timed deliveries.</summary>
    public long Events { get; init; } = 200_000;

    /// <summary>Throughput part: rows per inserted transaction.</summary>
    public int RowsPerTransaction { get; init; } = 100;

    /// <summary>Latency part: changes per second the writer inserts, in transactions of <see cref="LatencyRowsPerTransaction"/> rows.</summary>
    public int Rate { get; init; } = 5_000;

    public int LatencyRowsPerTransaction { get; init; } = 50;

    /// <summary>Latency part: how long the writer inserts.</summary>
    public int Seconds { get; init; } = 30;

    /// <summary>Latency part: the first seconds of the writer's run that are not counted.</summary>
    public int WarmupSeconds { get; init; } = 3;

    /// <summary>Throughput part: timed runs of each contender and worker count, alternating (the median is reported).</summary>
    public int Runs { get; init; } = 3;

    /// <summary>Keep the work folder (staged segments, spool) for inspection.</summary>
    public bool Keep { get; init; }
}
