using PgEgress.Core.Domain;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Batching;

/// <summary>
/// Tables an earlier flush could not write. The flush cursor moves on for the other tables, so each such table keeps the
/// position its unwritten changes start from (cdc_registry.flush_failures) and every flush writes it again from there
/// until it succeeds; staged segments after that position are kept meanwhile.
/// </summary>
public sealed class FlushRetries
{
    private readonly Dictionary<TableName, ulong> _retryFrom;
    private readonly ulong _cursor;

    public FlushRetries(IEnumerable<FlushFailureRecord> failures, ulong cursor)
    {
        _retryFrom = failures.ToDictionary(f => f.Table, f => Math.Min(f.RetryFrom, cursor));
        _cursor = cursor;
        ReadFrom = _retryFrom.Values.DefaultIfEmpty(ulong.MaxValue).Min();
    }

    /// <summary>The lowest position a retried table needs read from; <see cref="ulong.MaxValue"/> when none does.</summary>
    public ulong ReadFrom { get; }

    /// <summary>A transaction of <paramref name="table"/> ending after this is this flush's to write.</summary>
    public ulong From(TableName table) => _retryFrom.TryGetValue(table, out var from) ? from : _cursor;

    /// <summary>What the flush registers for the tables: the failed ones keep (or get) their retry position, the others that were retried are clear.</summary>
    public FlushOutcome Outcome(IReadOnlyDictionary<TableName, string> failed) => new(
        failed.ToDictionary(f => f.Key, f => new TableFailure(From(f.Key), f.Value)),
        [.. _retryFrom.Keys.Where(t => !failed.ContainsKey(t))]);
}
