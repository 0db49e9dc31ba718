namespace PgEgress.Core.Verification;

/// <summary>One bucket's row count and sum of 60-bit row hashes; two sides agree on a bucket when both are equal.</summary>
public readonly record struct BucketStats(long Count, decimal Sum);
