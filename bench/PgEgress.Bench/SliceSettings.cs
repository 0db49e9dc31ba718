namespace PgEgress.Bench;

/// <summary>The long-transaction slices scenario: <see cref="Rows"/> rows in one transaction open across 1 s slices.</summary>
public sealed record SliceSettings : BenchSettings
{
    public SliceSettings() => Runs = 1;

    /// <summary>Rows of the long transaction, inserted in <see cref="Chunks"/> chunks one second apart.</summary>
    public long Rows { get; init; } = 500_000;

    public int Chunks { get; init; } = 10;

    /// <summary>Seconds the transaction stays open after its last chunk (small commits going on), before it commits.</summary>
    public int Hold { get; init; } = 10;
}
