namespace PgEgress.Bench;

/// <summary>What every bench command takes: how often it runs each contender, and whether it keeps its work folder.</summary>
public abstract record BenchSettings
{
    /// <summary>Timed runs of each contender, alternating (the median is reported).</summary>
    public int Runs { get; init; } = 3;

    /// <summary>Keep the work folder (staged segments, spool, exported files) for inspection.</summary>
    public bool Keep { get; init; }
}
