using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using PgEgress.Core.Configuration;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Health;
using PgEgress.Core.Metrics;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Reload;

/// <summary>
/// Runs the exports of reloads whose marker is staged (and of the initial load): a table at a time under the snapshot
/// a temporary slot exports, or on first start (<see cref="InitialLoadSnapshotPolicy.SlotSnapshot"/>) every table
/// under the main slot's own snapshot, so each reload file
/// is its table at that snapshot's consistent point. Each table is registered as soon as its file is written. One
/// coordinator per pipeline runs at a time, across processes (an advisory lock).
/// </summary>
public sealed class ReloadCoordinator(
    PgEgressOptions options,
    NpgsqlDataSource source,
    OperationStore operations,
    TableExporter exporter,
    IObjectStore store,
    InitialLoadSnapshot initial,
    ReloadProgress progress,
    ShutdownBudget shutdown,
    PgEgressMeter meter,
    ComponentFailures failures,
    ILogger<ReloadCoordinator> logger) : IAsyncDisposable
{
    // Export connections wait as long as a COPY takes (and, say, behind another session's lock): no command timeout.
    private readonly NpgsqlDataSource _exportSource = new NpgsqlDataSourceBuilder(options.Source.ConnectionString)
    {
        ConnectionStringBuilder = { CommandTimeout = 0, ApplicationName = "pgegress-export" },
    }.Build();

    /// <summary>An export failing this many times is marked failed; its table's held changes then flow on unreloaded.</summary>
    public const int MaxAttempts = 3;

    private string Slot => options.Source.Slot;

    /// <summary>Exports what is pending; returns the number of tables registered (0 when nothing was pending or another process is at it).</summary>
    public async Task<int> RunPendingAsync(CancellationToken ct)
    {
        await using var roundLock = await AdvisoryLock.TryTakeAsync(source, "pgegress.reload." + Slot, shutdown, ct);
        if (roundLock is null) return 0;

        var lease = initial.Take();
        List<OperationRecord> ops;
        LogicalReplicationConnection replication;
        string snapshot;
        ulong consistent;
        if (lease is not null)
        {
            (replication, snapshot, consistent) = (lease.Connection, lease.SnapshotName, lease.ConsistentLsn);
            // Another process may have exported some of them meanwhile (under its own snapshot); only the rest are ours.
            var pending = (await operations.GetUnfinishedAsync([.. lease.Operations.Select(o => o.Id)], ct))
                .Where(o => o.ConsistentLsn == consistent).Select(o => o.Id).ToHashSet();
            ops = [.. lease.Operations.Where(o => pending.Contains(o.Id))];
            if (ops.Count == 0)
            {
                await replication.DisposeAsync();
                return 0;
            }
        }
        else
        {
            // One table per fresh snapshot: a table whose export fails (dropped, no privilege) then fails alone and
            // uses only its own attempts. The initial load above shares the slot's snapshot across tables.
            ops = [.. (await operations.GetPendingExportsAsync(Slot, ct)).Take(1)];
            if (ops.Count == 0) return 0;
            replication = new LogicalReplicationConnection(options.Source.ConnectionString);
            try
            {
                await replication.Open(ct);
                // Temporary: dropped with the connection, so a crash leaves no slot holding WAL.
                var slot = await replication.CreatePgOutputReplicationSlot($"pgegress_reload_{Guid.NewGuid():N}"[..40], temporarySlot: true,
                    slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
                (snapshot, consistent) = (slot.SnapshotName!, (ulong)slot.ConsistentPoint);
                await operations.StartExportAsync([.. ops.Select(o => o.Id)], consistent, ct);
            }
            catch
            {
                await replication.DisposeAsync();
                throw;
            }
        }

        // Operations read before StartExportAsync: an attempt already counted means an earlier export of it did not finish.
        await ClearInterruptedAsync(lease is null ? [.. ops.Where(o => o.Attempts > 0)] : [], ct);
        SnapshotWorkers workers;
        await using (replication)
            workers = await SnapshotWorkers.OpenAsync(_exportSource, snapshot, options.Reload.Workers, ct);
        logger.LogInformation("Exporting {Tables} table(s) at {Lsn}: {Names}", ops.Count, PgText.Lsn(consistent), string.Join(", ", ops.Select(o => o.Table)));

        var byId = ops.ToDictionary(o => o.Id);
        var done = new ConcurrentDictionary<long, bool>(); // the exporter may finish tables concurrently
        await using (workers)
        {
            try
            {
                var exportClock = Stopwatch.StartNew();
                var versions = new ConcurrentDictionary<long, int>();
                await exporter.ExportAsync(workers, [.. ops.Select(ExportTableOf)], consistent, progress,
                    schemaVersionFor: async (table, schema) =>
                        versions[table.OperationId] = await operations.SchemaVersionForAsync(byId[table.OperationId].Table, schema.Fingerprint, ct),
                    onTableExported: async exported =>
                    {
                        CrashPoint.Hit(CrashPoint.ReloadFileUploaded);
                        var op = byId[exported.Table.OperationId];
                        var batch = exported.Path.Split('/')[^2];
                        await operations.CompleteAsync(op.Id, new FileRecord(op.Table, batch, exported.Path, "full_reload", consistent, consistent,
                            exported.Rows, exported.Bytes, exported.Sha256, false, versions[op.Id]), exported.Schema.Fingerprint, shutdown.Token);
                        done[op.Id] = true;
                        failures.Succeeded(Component(op.Table));
                        progress.Done(op.Id);
                        meter.Reloaded(op.Table.ToString(), exported.Rows, exportClock.Elapsed);
                        logger.LogInformation("Reloaded {Table} (operation {Operation}): {Rows} row(s), {Bytes} bytes, {Ranges} range(s) at {Lsn} to {Path}",
                            op.Table, op.Id, exported.Rows, exported.Bytes, exported.Ranges, PgText.Lsn(consistent), exported.Path);
                    }, ct: ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                foreach (var op in ops.Where(o => !done.ContainsKey(o.Id)))
                {
                    // StartExportAsync counted this attempt; the lease's operations were counted when they were created.
                    var final = op.Attempts + (lease is null ? 1 : 0) >= MaxAttempts;
                    await operations.FailAsync(op.Id, e.Message, final, shutdown.Token);
                    failures.Failed(Component(op.Table), e, $"{op.Table} (operation {op.Id}{(final ? ", failed" : "")}): {e.Message}");
                    progress.Done(op.Id);
                }
                logger.LogError(e, "Export at {Lsn} failed; {Count} table(s) not reloaded", PgText.Lsn(consistent), ops.Count - done.Count);
            }
        }
        return done.Count;
    }

    /// <summary>
    /// A killed export leaves its spool files and maybe an uploaded but unregistered reload file (readers trust only the
    /// registry, but nobody should pay for it): both go before the re-run. Under the advisory lock no other export of
    /// this pipeline is running.
    /// </summary>
    private async Task ClearInterruptedAsync(List<OperationRecord> interrupted, CancellationToken ct)
    {
        var spool = Path.Combine(options.WorkDirectory, Slot, "reload");
        if (Directory.Exists(spool)) Directory.Delete(spool, recursive: true);
        foreach (var op in interrupted)
        {
            var marker = $"_reload-{op.Id}/";
            await foreach (var path in store.ListAsync(OutputLayout.TableFolder(op.Table) + "/", ct))
            {
                if (!path.Contains(marker, StringComparison.Ordinal)) continue;
                await store.DeleteAsync(path, ct);
                logger.LogInformation("Deleted {Path}, left unregistered by an interrupted export of operation {Operation}", path, op.Id);
            }
        }
    }

    public ValueTask DisposeAsync() => _exportSource.DisposeAsync();

    /// <summary>The component whose failure /api/ready shows while a table's exports fail; cleared by its next reload.</summary>
    public static string Component(Domain.TableName table) => $"{ReloadLoop.Component}:{table}";

    /// <summary>The export goes by the table's OID; the names are for messages and folders.</summary>
    private static ExportTable ExportTableOf(OperationRecord op) => new(op.Id, op.TableOid, op.Table);

}
