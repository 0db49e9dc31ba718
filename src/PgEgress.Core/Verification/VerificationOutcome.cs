namespace PgEgress.Core.Verification;

/// <summary>What one comparison found; counts are exact, <see cref="Sample"/> is capped.</summary>
public sealed class VerificationOutcome
{
    public const int SampleLimit = 1000;

    public ulong ConsistentLsn { get; set; }
    public long RowsScanned { get; set; }
    public long FileRows { get; set; }
    public long BucketsCompared { get; set; }
    public long BucketsBisected { get; set; }
    public long MissingInFiles { get; set; }
    public long OnlyInFiles { get; set; }
    public long Different { get; set; }
    public string? Skipped { get; set; }
    public string? RepairPath { get; set; }
    public long? ReloadOperationId { get; set; }
    public List<Discrepancy> Sample { get; } = [];

    public long Discrepancies => MissingInFiles + OnlyInFiles + Different;

    public void Add(Discrepancy d)
    {
        switch (d.Kind)
        {
            case "missing": MissingInFiles++; break;
            case "extra": OnlyInFiles++; break;
            default: Different++; break;
        }
        if (Sample.Count < SampleLimit) Sample.Add(d);
    }
}
