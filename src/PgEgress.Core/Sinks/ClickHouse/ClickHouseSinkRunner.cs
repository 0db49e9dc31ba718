using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks.Postgres;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.ClickHouse;

/// <summary>
/// Inserts the staged log into ClickHouse tables (<see cref="ClickHouseTable"/>), transactions in commit order batched
/// by rows, bytes and time; the registry cursor moves only past transactions whose every INSERT ClickHouse answered
/// with 200. After a crash the batch is inserted again, giving the same (key, _version) rows, which FINAL collapses.
/// A TRUNCATE is a barrier: what came before is inserted, then the ClickHouse table is truncated. A table ClickHouse
/// cannot take is set aside (<see cref="SetAsideTables"/>) and the others go on; a server that cannot be reached
/// fails the slice, shown in the sink's status, and the next slice tries again from the cursor.
/// </summary>
public sealed class ClickHouseSinkRunner(
    string name,
    SinkOptions options,
    string slot,
    ClickHouseHttp clickHouse,
    StagedLog log,
    RegistryStore registry,
    SetAsideTables setAside,
    SinkMetrics.Counters metrics,
    ILogger logger) : ISinkRunner
{
    /// <summary>The tables made ready in this process, by source table and shape (a new shape is checked again).</summary>
    private readonly Dictionary<string, ClickHouseTable> _tables = new(StringComparer.Ordinal);
    private bool _databaseReady;

    public string Name => name;

    public async Task<SinkSliceResult> RunSliceAsync(TimeSpan budget, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var consumer = SinkRunners.Consumer(name);
        var cursor = (await registry.GetCursorAsync(slot, consumer, ct))?.Lsn ?? 0;
        var (start, position) = (cursor, cursor);
        var filter = new SinkFilter(options);
        var batch = new ClickHouseBatch();
        var caughtUp = false;
        try
        {
            while (clock.Elapsed < budget && !ct.IsCancellationRequested)
            {
                var before = position;
                // The end of the last transaction in the batch, and the transaction being read (where a set-aside table's skip starts).
                ulong complete = position, reading = 0;
                var skipped = 0;
                var batchAge = Stopwatch.StartNew();
                batch.Clear();
                try
                {
                    await log.ReadAsync(slot, position, async (txn, events) =>
                    {
                        reading = txn.EndLsn;
                        metrics.OldestPendingCommit ??= txn.CommitTimestamp;
                        foreach (var e in events)
                        {
                            if (!filter.Accepts(e.Row)) continue;
                            if (setAside.Contains(e.Row.Relation.QualifiedName))
                            {
                                skipped++;
                                continue;
                            }
                            var table = await TableAsync(e.Row.Relation, ct);
                            if (e.Row.Op == 'T')
                            {
                                await FlushAsync(batch, ct);
                                await TruncateAsync(table, ct);
                                continue;
                            }
                            batch.Add(name, table, txn, e.Row);
                            if (batch.Changes >= options.BatchMaxRows || batch.Bytes >= options.BatchMaxBytes) await FlushAsync(batch, ct);
                        }
                        complete = txn.EndLsn;
                        return clock.Elapsed < budget && batchAge.Elapsed < options.BatchMaxWait && batch.Changes < options.BatchMaxRows;
                    }, ct);
                    await FlushAsync(batch, ct);
                }
                catch (TargetTableException e) when (!ct.IsCancellationRequested)
                {
                    // Read again from the last accepted transaction, without that table; rows of others inserted since are inserted again, alike.
                    if (!await setAside.AddAsync(e, reading, ct)) throw;
                    continue;
                }
                metrics.AddDeadLettered(skipped);
                metrics.OldestPendingCommit = null;
                position = complete;
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
            logger.LogError(e, "Sink {Sink}: inserting into ClickHouse at {Url} failed; it resumes from its cursor", name, options.Url);
            throw;
        }
        return new SinkSliceResult(name, start, position, caughtUp);
    }

    private async Task<ClickHouseTable> TableAsync(RelationSchema relation, CancellationToken ct)
    {
        var id = $"{relation.QualifiedName}|{relation.Fingerprint}";
        if (_tables.TryGetValue(id, out var table)) return table;
        table = ClickHouseTable.For(name, options.Database, relation);
        if (options.CreateTables)
        {
            if (!_databaseReady) await clickHouse.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {ClickHouseHttp.Quote(options.Database)}", null, ct);
            _databaseReady = true;
            await RunForTableAsync(table, table.CreateStatement(), null, ct);
        }
        return _tables[id] = table;
    }

    private async Task FlushAsync(ClickHouseBatch batch, CancellationToken ct)
    {
        if (batch.Changes == 0) return;
        foreach (var table in batch.Tables) await RunForTableAsync(table, table.InsertStatement(), batch.Render(name, table), ct);
        metrics.AddDelivered(batch.Changes, batch.OldestCommit!.Value);
        batch.Clear();
    }

    private async Task TruncateAsync(ClickHouseTable table, CancellationToken ct)
    {
        try
        {
            await RunForTableAsync(table, $"TRUNCATE TABLE {table.Name}", null, ct);
        }
        catch (TargetTableException e) when (e.InnerException is ClickHouseException { Code: 60 })
        {
            // No such table (CreateTables off, nothing inserted yet): nothing to empty.
        }
    }

    /// <summary>A statement about one table: an error of that table's own sets it aside; others fail the slice.</summary>
    private async Task RunForTableAsync(ClickHouseTable table, string query, byte[]? data, CancellationToken ct)
    {
        try
        {
            await clickHouse.ExecuteAsync(query, data, ct);
        }
        catch (ClickHouseException e) when (!e.IsSinkWide)
        {
            throw new TargetTableException(table.Relation.QualifiedName, $"Sink '{name}': ClickHouse refused table {table.Name} for {table.Relation.QualifiedName}: {e.Message}", e);
        }
    }
}
