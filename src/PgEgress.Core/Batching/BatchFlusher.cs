using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Clients;
using PgEgress.Core.Configuration;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Domain;
using PgEgress.Core.Metrics;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Batching;

/// <summary>
/// Turns the staged transactions after the flush cursor into each table's batch files. Files are written first
/// and registered afterwards, together with the cursor, in one registry transaction; a flush that dies before
/// that leaves only unregistered files, which the re-run overwrites with the same names. Segments every cursor
/// has passed are deleted last. One flush runs at a time per slot, across processes (an advisory lock).
/// A table with a reload under way is held back from its request marker on (<see cref="ReloadHolds"/>); once the
/// reload file is registered, the next flush writes its held changes from the reload's consistent point.
/// A table whose files cannot be written does not stop the others: its error is registered with the position its
/// unwritten changes start from, and each later flush retries it from there (<see cref="FlushRetries"/>).
/// </summary>
public sealed class BatchFlusher(
    PgEgressOptions options,
    NpgsqlDataSource source,
    IObjectStore store,
    RegistryStore registry,
    OperationStore operations,
    ShutdownBudget shutdown,
    PgEgressMeter meter,
    ClientCleanup clients,
    ILogger<BatchFlusher> logger)
{
    private string Slot => options.Source.Slot;

    /// <summary>The advisory lock one flush of the slot holds at a time; a reload's registration takes it too.</summary>
    public static string LockKey(string slot) => "pgegress.flush." + slot;

    /// <param name="requestedCut">The window boundary a scheduled flush cuts at, or now for a forced flush.</param>
    /// <param name="upTo">Write only transactions ending at or before this LSN (a verification's consistent point), so no
    /// file holds changes on both sides of it; the cursor stops there.</param>
    public async Task<FlushResult> FlushAsync(DateTime requestedCut, CancellationToken ct, ulong upTo = ulong.MaxValue)
    {
        var clock = Stopwatch.StartNew();
        var result = await FlushOnceAsync(requestedCut, upTo, ct);
        meter.Flushed(result, clock.Elapsed);
        return result;
    }

    private async Task<FlushResult> FlushOnceAsync(DateTime requestedCut, ulong upTo, CancellationToken ct)
    {
        await using var flushLock = await AdvisoryLock.TakeAsync(source, LockKey(Slot), shutdown, ct);

        var cursor = await registry.GetCursorAsync(Slot, RegistryStore.FlushConsumer, ct);
        var from = cursor?.Lsn ?? 0;
        var window = BatchWindow.For(requestedCut, cursor?.LastCut is { } c ? DateTime.SpecifyKind(c, DateTimeKind.Utc) : null, options.Batch.Interval);
        var batch = OutputLayout.Batch(window.Start);
        var segments = await registry.GetSegmentsAsync(Slot, from, ct);
        var to = segments.Count > 0 ? Math.Max(from, Math.Min(upTo, segments[^1].EndLsn)) : from;
        // Read after the segments: a marker is registered together with its segment, so every marker up to `to` is here.
        var holds = new ReloadHolds(await operations.GetHoldsAsync(Slot, ct), to);
        var retries = new FlushRetries(await registry.GetFlushFailuresAsync(Slot, ct), from);
        if (segments.Count == 0 && holds.Releasable.Count == 0 && retries.ReadFrom >= from)
        {
            await registry.CommitFlushAsync(Slot, [], new Dictionary<TableName, (int, string)>(), from, window.Cut, [], FlushOutcome.None, ct);
            // Nothing new to write, but a sink may have caught up since: what every cursor has passed can go.
            return new FlushResult(batch, window.Cut, PgText.Lsn(from), PgText.Lsn(from), 0, [], await DeletePassedSegmentsAsync(ct), []);
        }
        // A finished reload's held changes are re-read from its marker, even when nothing new was staged.
        var readFrom = Math.Min(Math.Min(from, holds.ReadFrom), retries.ReadFrom);
        if (readFrom < from) segments = await registry.GetSegmentsAsync(Slot, readFrom, ct);

        // Under the lock no other flush of this slot runs, so whatever a killed one left in the folder is garbage.
        var flushRoot = Path.Combine(options.WorkDirectory, Slot, "flush");
        if (Directory.Exists(flushRoot)) Directory.Delete(flushRoot, recursive: true);
        var work = Path.Combine(flushRoot, Guid.NewGuid().ToString("N"));
        PrivateFiles.CreateFolder(work);
        try
        {
            var states = await registry.GetTableStatesAsync(ct);
            var (tables, ddl) = await WritePartsAsync(segments, readFrom, retries, to, holds, work, ct);
            // From the first upload to the registration the flush is not torn by shutdown: stopping in between would
            // leave complete but unregistered batch files in the output. These steps are short (the parts are already
            // on local disk); a crash here is still safe, as readers trust only the registry.
            var (files, schemas, failed) = await UploadAsync(tables, ddl, states, batch, shutdown.Token);
            CrashPoint.Hit(CrashPoint.FlushFilesWritten);
            var outcome = retries.Outcome(failed);
            await registry.CommitFlushAsync(Slot, files, schemas, to, window.Cut, holds.ReleasableWithout(failed.Keys), outcome, shutdown.Token);
            CrashPoint.Hit(CrashPoint.FlushRegistered);
            // Logged once registered: the clean-up below may still be cancelled by shutdown, the batch stays.
            logger.LogInformation("Flushed batch {Batch}: {Files} file(s), {Rows} row(s), LSN {From} to {To}",
                batch, files.Count, files.Sum(f => f.Rows), PgText.Lsn(from), PgText.Lsn(to));
            var deleted = await DeletePassedSegmentsAsync(ct);
            await LeftoverSweep.RunAsync(store, logger, ct);
            return new FlushResult(batch, window.Cut, PgText.Lsn(from), PgText.Lsn(to), segments.Count,
                [.. files.Select(f => new FlushedFile(f.Table.ToString(), f.Path, f.Rows, f.Bytes, PgText.Lsn(f.StartLsn), PgText.Lsn(f.EndLsn)))], deleted,
                [.. failed.Select(f => new FailedTable(f.Key.ToString(), f.Value))]);
        }
        catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
        {
            logger.LogWarning("The shutdown budget ran out while batch {Batch} was being written or registered: it is left unregistered, and the next flush writes its changes again", batch);
            throw;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// Streams the staged transactions into per-table CSV parts on local disk: those after <paramref name="from"/>,
    /// and the held-back changes of finished reloads wherever they start. DDL markers are collected per table.
    /// </summary>
    private async Task<(Dictionary<TableName, List<CsvPartWriter>> Tables, Dictionary<TableName, List<DdlStatement>> Ddl)> WritePartsAsync(
        List<SegmentRecord> segments, ulong readFrom, FlushRetries retries, ulong to, ReloadHolds holds, string work, CancellationToken ct)
    {
        var tables = new Dictionary<TableName, List<CsvPartWriter>>();
        var ddl = new Dictionary<TableName, List<DdlStatement>>();
        var partCount = 0;
        try
        {
            foreach (var segment in segments)
            {
                await using var stream = await store.OpenReadAsync(segment.Path, ct)
                    ?? throw new InvalidDataException($"staged segment {segment.Path} is registered but missing from {store.Describe}");
                using var reader = new SegmentReader(stream, segment.Path, segment.Sha256);
                while (reader.NextTransaction(out var txn))
                {
                    if (txn.EndLsn <= readFrom || txn.EndLsn > to)
                    {
                        while (reader.NextChange(out _)) { }
                        continue;
                    }
                    var seq = 0;
                    while (reader.NextChange(out var change))
                    {
                        if (change.Kind == ChangeKind.Message)
                        {
                            if (DdlStatement.From(change, txn, Slot) is { } statement && txn.EndLsn > retries.From(statement.Table))
                                (ddl.TryGetValue(statement.Table, out var list) ? list : ddl[statement.Table] = []).Add(statement);
                            continue;
                        }
                        foreach (var row in ChangeRows.From(change))
                        {
                            // _seq numbers every row of the transaction, written or held, so it is the same whichever flush writes it.
                            seq++;
                            if (!holds.Writes(row.Relation.RelationId, txn, retries.From(row.Relation.Table))) continue;
                            PartFor(row.Relation).Write(row, txn, seq);
                        }
                    }
                    ct.ThrowIfCancellationRequested();
                }
            }
            foreach (var part in tables.Values.SelectMany(p => p)) part.Close();
            return (tables, ddl);
        }
        catch
        {
            foreach (var part in tables.Values.SelectMany(p => p)) part.Dispose();
            throw;
        }

        CsvPartWriter PartFor(RelationSchema relation)
        {
            if (!tables.TryGetValue(relation.Table, out var parts)) tables[relation.Table] = parts = [];
            var current = parts.Count > 0 ? parts[^1] : null;
            if (current is not null && current.Schema.Fingerprint == relation.Fingerprint
                && current.Rows < options.Batch.MaxRowsPerFile && current.UncompressedBytes < options.Batch.MaxBytesPerFile)
                return current;
            // A new part when the table's shape changes (no file mixes two shapes) or the part is full.
            current?.Close();
            var part = new CsvPartWriter(Path.Combine(work, $"part-{++partCount:D6}.csv.gz"), relation);
            parts.Add(part);
            return part;
        }
    }

    /// <summary>
    /// Uploads each table's parts and schema.yml. Consecutive parts of one shape share a batch folder; a shape change
    /// within the window starts a new folder, {batch}_v{version}, so each schema.yml describes every row beside it.
    /// The window's DDL goes to ddl.sql in the table's {batch} folder. A table whose upload fails is left out of the
    /// registration (its files stay unregistered) and reported in <c>Failed</c>; the other tables are not held up.
    /// </summary>
    private async Task<(List<FileRecord> Files, Dictionary<TableName, (int, string)> Schemas, Dictionary<TableName, string> Failed)> UploadAsync(
        Dictionary<TableName, List<CsvPartWriter>> tables, Dictionary<TableName, List<DdlStatement>> ddl,
        Dictionary<TableName, TableStateRecord> states, string batch, CancellationToken ct)
    {
        var files = new List<FileRecord>();
        var schemas = new Dictionary<TableName, (int, string)>();
        var failed = new Dictionary<TableName, string>();
        foreach (var table in tables.Keys.Union(ddl.Keys).ToList())
        {
            try
            {
                var tableFiles = new List<FileRecord>();
                var version = states.TryGetValue(table, out var state) ? state.SchemaVersion : 0;
                if (tables.TryGetValue(table, out var parts))
                {
                    var (partFiles, schema) = await UploadPartsAsync(table, parts, state, batch, ddl.ContainsKey(table), ct);
                    tableFiles.AddRange(partFiles);
                    version = schema.Version;
                    schemas[table] = schema;
                }
                if (ddl.TryGetValue(table, out var statements))
                    tableFiles.Add(await UploadDdlAsync(table, statements, batch, version, ct));
                files.AddRange(tableFiles);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                schemas.Remove(table);
                failed[table] = e.Message;
                logger.LogError(e, "Could not write the files of {Table} for batch {Batch}; its changes stay staged and the next flush retries it", table, batch);
            }
        }
        return (files, schemas, failed);
    }

    private async Task<(List<FileRecord> Files, (int Version, string Fingerprint) Schema)> UploadPartsAsync(
        TableName table, List<CsvPartWriter> parts, TableStateRecord? state, string batch, bool hasDdl, CancellationToken ct)
    {
        var files = new List<FileRecord>();
        var version = state?.SchemaVersion ?? 0;
        var fingerprint = state?.SchemaFingerprint;
        var tableFolder = OutputLayout.TableFolder(table);
        var groups = new List<List<CsvPartWriter>>();
        foreach (var part in parts)
        {
            if (groups.Count == 0 || groups[^1][0].Schema.Fingerprint != part.Schema.Fingerprint) groups.Add([]);
            groups[^1].Add(part);
        }
        for (var g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            if (group[0].Schema.Fingerprint != fingerprint)
            {
                version++;
                fingerprint = group[0].Schema.Fingerprint;
            }
            var groupBatch = g == 0 ? batch : OutputLayout.ShapeBatch(batch, version);
            var folder = $"{tableFolder}/{groupBatch}";
            for (var i = 0; i < group.Count; i++)
            {
                var part = group[i];
                var path = $"{folder}/{OutputLayout.StreamingFile(i + 1, group.Count)}";
                await using var file = File.OpenRead(part.SpoolPath);
                var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
                file.Position = 0;
                await store.PutAsync(path, file, ct);
                files.Add(new FileRecord(table, groupBatch, path, "streaming", part.StartLsn, part.EndLsn, part.Rows, file.Length, sha, hasDdl, version));
            }
            var yaml = SchemaDocument.For(group[0].Schema, version, group[0].StartLsn, group[^1].EndLsn).ToYaml();
            await using var schemaStream = new MemoryStream(Encoding.UTF8.GetBytes(yaml));
            await store.PutAsync($"{folder}/{OutputLayout.SchemaFile}", schemaStream, ct);
        }
        return (files, (version, fingerprint!));
    }

    private async Task<FileRecord> UploadDdlAsync(TableName table, List<DdlStatement> statements, string batch, int version, CancellationToken ct)
    {
        var path = $"{OutputLayout.TableFolder(table)}/{batch}/{OutputLayout.DdlFile}";
        var bytes = Encoding.UTF8.GetBytes(DdlStatement.Script(statements));
        await using var file = new MemoryStream(bytes);
        await store.PutAsync(path, file, ct);
        return new FileRecord(table, batch, path, "ddl", statements[0].Lsn, statements[^1].Lsn, statements.Count, bytes.Length,
            Convert.ToHexStringLower(SHA256.HashData(bytes)), true, version);
    }

    /// <summary>Deletes the staged segments every consumer has passed: the object first, then its row, so a crash in between leaves only a row pointing below every cursor.</summary>
    private async Task<int> DeletePassedSegmentsAsync(CancellationToken ct)
    {
        // Clients past their TTL or the retention cap release their cursors first, so their segments go now.
        await clients.RunAsync(ct);
        if (await registry.GetLowestCursorAsync(Slot, ct) is not { } lowest) return 0;
        var paths = await registry.GetSegmentPathsUpToAsync(Slot, lowest, ct);
        foreach (var path in paths)
        {
            await store.DeleteAsync(path, ct);
            await registry.DeleteSegmentAsync(path, ct);
        }
        return paths.Count;
    }
}
