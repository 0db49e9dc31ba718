using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks.Postgres;

namespace PgEgress.Core.Sinks;

/// <summary>
/// Applies the staged log to a target PostgreSQL database, transaction by transaction in commit order. The target
/// keeps its own cursor in the same transaction as the changes (so a replay is skipped exactly); the registry cursor
/// follows it, for the retention of staged segments. A table whose apply fails for a reason of its own is set aside
/// (<see cref="SetAsideTables"/>) and the transaction applied again without it, so one table never stalls the others.
/// </summary>
public sealed class PostgresSinkRunner(
    string name,
    SinkOptions options,
    string slot,
    PostgresTargetApplier applier,
    StagedLog log,
    RegistryStore registry,
    SetAsideTables setAside,
    SinkMetrics.Counters metrics,
    ILogger logger) : ISinkRunner
{
    /// <summary>Where in a transaction the sink-mid-apply crash point is: part of it sent to the target, not committed.</summary>
    private const int CrashAfterRows = 1000;

    public string Name => name;

    public async Task<SinkSliceResult> RunSliceAsync(TimeSpan budget, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var consumer = SinkRunners.Consumer(name);
        var cursor = (await registry.GetCursorAsync(slot, consumer, ct))?.Lsn ?? 0;
        var (start, position) = (cursor, cursor);
        var filter = new SinkFilter(options);
        var caughtUp = false;
        try
        {
            // Inside the try: a target that cannot be reached (or is the source) shows in the sink's status.
            position = start = Math.Max(cursor, await applier.GetAppliedLsnAsync(ct));
            while (clock.Elapsed < budget && !ct.IsCancellationRequested)
            {
                var before = position;
                ulong failedAt = 0;
                try
                {
                    position = await log.ReadAsync(slot, position, async (txn, events) =>
                    {
                        metrics.OldestPendingCommit = txn.CommitTimestamp;
                        failedAt = txn.EndLsn;
                        var (applied, skipped) = (0, 0);
                        IEnumerable<Output.ChangeRow> Rows()
                        {
                            foreach (var e in events)
                            {
                                if (!filter.Accepts(e.Row)) continue;
                                if (setAside.Contains(e.Row.Relation.QualifiedName))
                                {
                                    skipped++;
                                    continue;
                                }
                                if (++applied == CrashAfterRows) CrashPoint.Hit(CrashPoint.SinkMidApply);
                                yield return e.Row;
                            }
                        }
                        if (await applier.ApplyAsync(txn, Rows(), ct))
                        {
                            metrics.AddDelivered(applied, txn.CommitTimestamp);
                            metrics.AddDeadLettered(skipped);
                        }
                        metrics.OldestPendingCommit = null;
                        return clock.Elapsed < budget;
                    }, ct);
                }
                catch (TargetTableException e) when (!ct.IsCancellationRequested)
                {
                    // The transaction rolled back; it is read again, without that table. The ones before it are applied.
                    if (!await setAside.AddAsync(e, failedAt, ct)) throw;
                    position = Math.Max(position, await applier.GetAppliedLsnAsync(ct));
                    continue;
                }
                if (position > cursor)
                {
                    await registry.AdvanceCursorAsync(slot, consumer, position, ct);
                    cursor = position;
                }
                caughtUp = position == before;
                if (caughtUp) await log.WaitForSegmentAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            metrics.Failed(e);
            logger.LogError(e, "Sink {Sink}: applying to the target failed; it resumes from the target's cursor", name);
            throw;
        }
        return new SinkSliceResult(name, start, position, caughtUp);
    }
}
