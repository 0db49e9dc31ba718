namespace PgEgress.Bench;

/// <summary>What the verify benchmark loads and changes before it compares.</summary>
public sealed record VerifySettings : BenchSettings
{
    public long Rows { get; init; } = 2_000_000;
}
