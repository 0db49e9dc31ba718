using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Reload;

/// <summary>
/// Exports whole tables under one snapshot as {table}/{batch}_reload-{operation}/full_reload.csv.gz with its schema.yml.
/// Every COPY unit (a table, or a CTID range of a large one) streams through gzip into its own spool file, so memory
/// stays bounded; the snapshot's connections pull units, largest table first, one COPY each at a time. When a table's
/// last unit is done, its header member and unit members, concatenated in CTID order, are one valid gzip stream: that is
/// uploaded as is, while the workers go on with other tables.
/// </summary>
public sealed class TableExporter(PgEgressOptions options, IObjectStore store, ShutdownBudget shutdown, ILogger<TableExporter> logger)
{
    private const int CopyBuffer = 1 << 16;
    private const long ReportEveryBytes = 8L << 20;

    // Below this the estimate is too rough (and a little churn too large a share) to judge an export by.
    private const long MeaningfulEstimate = 1000;

    /// <summary>
    /// Exports <paramref name="tables"/> as of the snapshot of <paramref name="workers"/>. For each table, as soon as its
    /// file and schema.yml are uploaded, <paramref name="onTableExported"/> runs (to register it; tables are handed over
    /// one at a time, never concurrently), then its spool is deleted. When a unit fails or <paramref name="ct"/> is
    /// cancelled, the other units stop, nothing more is uploaded for the tables not finished (tables already handed over
    /// stay so), the spool is deleted and the error is thrown. A table rewritten after the snapshot is not exported: once
    /// the others are, <see cref="TableRewrittenException"/> names it.
    /// </summary>
    /// <param name="consistentLsn">The slot's consistent point: every row's _lsn and the schema.yml's LSN range.</param>
    /// <param name="progress">Reported from the workers' threads as units advance.</param>
    /// <param name="schemaVersionFor">The schema version to write into a table's schema.yml.</param>
    public async Task ExportAsync(SnapshotWorkers workers, IReadOnlyList<ExportTable> tables, ulong consistentLsn,
        IProgress<ExportProgress>? progress, Func<ExportTable, RelationSchema, Task<int>> schemaVersionFor,
        Func<ExportedTable, Task> onTableExported, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentNullException.ThrowIfNull(tables);
        var spoolRoot = Path.Combine(options.WorkDirectory, options.Source.Slot, "reload");
        List<TableExport> plans = [];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        ExceptionDispatchInfo? failure = null;
        var handedOver = 0;
        IReadOnlyList<ExportTable> rewritten = [];
        try
        {
            rewritten = await ExportPlanner.PlanAsync(workers.Connections[0], tables, options.Reload, spoolRoot, consistentLsn, workers.SnapshotTime, plans, ct);
            foreach (var plan in plans)
                logger.LogInformation("Reload of {Table} (operation {Operation}): {Size} bytes on disk, {Units} unit(s)",
                    plan.Schema.QualifiedName, plan.Table.OperationId, plan.SizeBytes, plan.Units.Count);

            var queue = new ConcurrentQueue<ExportUnit>(plans.SelectMany(p => p.Units));
            var finished = Channel.CreateUnbounded<TableExport>(new UnboundedChannelOptions { SingleReader = true });

            // The first failure stops the units; tables whose units are all done are still handed over (their export is
            // complete) unless the caller cancelled, or the failure was in the hand-over itself. Only the first error
            // says why: whatever fails once the units are stopping is its consequence.
            void Fail(Exception e)
            {
                if (stop.IsCancellationRequested) return;
                Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null);
                stop.Cancel();
            }

            async Task WorkAsync(NpgsqlConnection conn)
            {
                try
                {
                    while (queue.TryDequeue(out var unit))
                    {
                        stop.Token.ThrowIfCancellationRequested();
                        await ExportUnitAsync(conn, unit, progress, stop.Token);
                        if (unit.Table.UnitDone(progress)) finished.Writer.TryWrite(unit.Table);
                    }
                }
                catch (Exception e)
                {
                    Fail(e);
                }
            }

            async Task HandOverAsync()
            {
                try
                {
                    await foreach (var table in finished.Reader.ReadAllAsync(ct))
                    {
                        await PublishAsync(table, consistentLsn, workers.SnapshotTime, schemaVersionFor, onTableExported, ct);
                        handedOver++;
                    }
                }
                catch (Exception e)
                {
                    Fail(e);
                }
            }

            var handOver = HandOverAsync();
            await Task.WhenAll(workers.Connections.Select(WorkAsync));
            finished.Writer.Complete();
            await handOver;
        }
        finally
        {
            DeleteSpool(plans);
        }
        failure?.Throw();
        if (handedOver < plans.Count) ct.ThrowIfCancellationRequested();
        // Only now: the snapshot's other tables are exported and handed over first.
        if (rewritten.Count > 0) throw new TableRewrittenException(rewritten);
    }

    /// <summary>Runs one COPY into its spool file, counting rows and bytes as they stream.</summary>
    private static async Task ExportUnitAsync(NpgsqlConnection conn, ExportUnit unit, IProgress<ExportProgress>? progress, CancellationToken ct)
    {
        var table = unit.Table;
        var counter = new CsvRowCounter();
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            await using var file = PrivateFiles.Open(unit.SpoolPath, FileMode.CreateNew, FileAccess.Write, CopyBuffer, FileOptions.Asynchronous);
            await using var gzip = new GZipStream(file, CompressionLevel.Fastest);
            // BeginRawBinaryCopy refuses a text-format COPY; the text reader is a StreamReader over the same raw COPY
            // stream, whose bytes (UTF-8, as Npgsql sets client_encoding) are read here as they are, never decoded.
            using var reader = (NpgsqlCopyTextReader)await conn.BeginTextExportAsync(unit.CopySql, ct);
            // Reads otherwise time out after the connection's Command Timeout, which a long range outlasts.
            reader.Timeout = Timeout.Infinite;
            var copy = reader.BaseStream;
            var unreported = 0L;
            int read;
            // COPY sends a message per row: reading until the buffer is full makes one compression call per 64 KiB.
            while ((read = await copy.ReadAtLeastAsync(buffer.AsMemory(0, CopyBuffer), CopyBuffer, throwOnEndOfStream: false, ct)) > 0)
            {
                var rowsBefore = counter.Rows;
                counter.Count(buffer.AsSpan(0, read));
                await gzip.WriteAsync(buffer.AsMemory(0, read), ct);
                table.Add(counter.Rows - rowsBefore, read);
                if ((unreported += read) >= ReportEveryBytes)
                {
                    unreported = 0;
                    progress?.Report(table.Progress());
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (!counter.Complete)
            throw new InvalidDataException($"{table.Schema.QualifiedName}: the COPY output of {Path.GetFileName(unit.SpoolPath)} does not end on a row boundary");
    }

    /// <summary>Uploads a finished table's file and schema.yml, hands it over, then deletes its spool.</summary>
    private async Task PublishAsync(TableExport table, ulong consistentLsn, DateTime snapshotTime,
        Func<ExportTable, RelationSchema, Task<int>> schemaVersionFor, Func<ExportedTable, Task> onTableExported, CancellationToken ct)
    {
        var schema = table.Schema;
        var folder = $"{OutputLayout.TableFolder(schema.Table)}/{OutputLayout.ReloadBatch(snapshotTime, table.Table.OperationId)}";
        var path = $"{folder}/{OutputLayout.FullReloadFile}";
        var schemaPath = $"{folder}/{OutputLayout.SchemaFile}";
        ExportedTable exported;
        try
        {
            var version = await schemaVersionFor(table.Table, schema);
            string sha256;
            long bytes;
            await using (var content = new SpoolConcatenation(table.SpoolFiles))
            {
                await store.PutAsync(path, content, ct);
                (sha256, bytes) = content.Digest();
            }
            var yaml = SchemaDocument.For(schema, version, consistentLsn, consistentLsn).ToYaml();
            await using (var schemaStream = new MemoryStream(Encoding.UTF8.GetBytes(yaml)))
                await store.PutAsync(schemaPath, schemaStream, ct);
            exported = new ExportedTable(table.Table, schema, path, schemaPath, table.Rows, bytes, sha256, table.Units.Count, consistentLsn);
        }
        catch
        {
            // Not handed over: leave no file that looks like a finished reload.
            await DeleteQuietlyAsync(path);
            await DeleteQuietlyAsync(schemaPath);
            throw;
        }
        // Far fewer rows than the planner's estimate is how an export that missed rows shows, whatever the cause.
        if (table.EstimatedRows >= MeaningfulEstimate && exported.Rows < table.EstimatedRows / 2)
            logger.LogWarning("Reload of {Table} (operation {Operation}) exported {Rows} row(s), far below the table's estimate of {Estimate}",
                schema.QualifiedName, table.Table.OperationId, exported.Rows, table.EstimatedRows);
        // From here on the file is the caller's: whatever the callback does, it is not deleted.
        await onTableExported(exported);
        logger.LogDebug("Reload of {Table} (operation {Operation}) exported: {Rows} rows, {Ranges} range(s), {Bytes} bytes at {Path}",
            schema.QualifiedName, table.Table.OperationId, exported.Rows, exported.Ranges, exported.Bytes, path);
        Directory.Delete(table.SpoolFolder, recursive: true);
    }

    /// <summary>Best effort, after a failure: an error here must not hide the one being thrown.</summary>
    private async Task DeleteQuietlyAsync(string path)
    {
        try
        {
            await store.DeleteAsync(path, shutdown.Token);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Could not delete {Path} of an unfinished reload", path);
        }
    }

    /// <summary>Deletes what is left of the tables' spool folders, and their operation folders once empty.</summary>
    private static void DeleteSpool(List<TableExport> plans)
    {
        foreach (var plan in plans)
            if (Directory.Exists(plan.SpoolFolder)) Directory.Delete(plan.SpoolFolder, recursive: true);
        foreach (var operation in plans.Select(p => Path.GetDirectoryName(p.SpoolFolder)!).Distinct())
            if (Directory.Exists(operation) && !Directory.EnumerateFileSystemEntries(operation).Any()) Directory.Delete(operation);
    }
}
