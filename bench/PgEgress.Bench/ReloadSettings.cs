namespace PgEgress.Bench;

/// <summary>What the reload benchmark loads and how it runs each contender.</summary>
public sealed record ReloadSettings
{
    public long Rows { get; init; } = 5_000_000;

    /// <summary>PgEgress's export connections; the default is PgEgress:Reload:Workers's.</summary>
    public int Workers { get; init; } = 2;

    public int Runs { get; init; } = 3;

    /// <summary>Keep the work folder (the exported files) for inspection.</summary>
    public bool Keep { get; init; }
}
