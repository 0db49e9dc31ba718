namespace PgEgress.Bench;

/// <summary>The large-transaction sinks scenario: one transaction of <see cref="Events"/> rows; <see cref="BenchSettings.Runs"/> runs of each contender.</summary>
public sealed record SinkTransactionSettings : BenchSettings
{
    public SinkTransactionSettings() => Runs = 1;

    /// <summary>Rows of the one inserted transaction, one event each.</summary>
    public long Events { get; init; } = 100_000;
}
