namespace PgEgress.Bench;

/// <summary>
/// What the sinks benchmark stages and how fast its latency writer inserts; <see cref="BenchSettings.Runs"/> counts the
/// throughput part's runs of each contender and worker count.
/// </summary>
public sealed record SinkSettings : BenchSettings
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
}
