namespace PgEgress.Bench;

/// <summary>The segment-rate scenario: a writer at each rate for <see cref="Seconds"/> while ingest runs with default slices.</summary>
public sealed record SegmentRateSettings : BenchSettings
{
    public SegmentRateSettings() => Runs = 1;

    public int Seconds { get; init; } = 30;

    /// <summary>Changes per second the writer aims at, one scenario each.</summary>
    public IReadOnlyList<int> Rates { get; init; } = [100, 1_000, 10_000];
}
