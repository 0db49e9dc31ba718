namespace PgEgress.Bench;

/// <summary>What the reload benchmark loads and how many connections PgEgress exports it with.</summary>
public sealed record ReloadSettings : BenchSettings
{
    public long Rows { get; init; } = 5_000_000;

    /// <summary>PgEgress's export connections; the default is PgEgress:Reload:Workers's.</summary>
    public int Workers { get; init; } = 2;
}
