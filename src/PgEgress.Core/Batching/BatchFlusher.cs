using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Output;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Batching;

/// <summary>
/// Turns the staged transactions after the flush cursor into each table's batch files. Files are written first
/// and registered afterwards, together with the cursor, in one registry transaction; a flush that dies before
/// that leaves only unregistered files, which the re-run overwrites with the same names. Segments every cursor
/// has passed are deleted last. One flush runs at a time per slot, across processes (an advisory lock).
/// </summary>
public sealed class BatchFlusher(
    PgEgressOptions options,
    NpgsqlDataSource source,
    IObjectStore store,
    RegistryStore registry,
    ILogger<BatchFlusher> logger)
{
    private string Slot => options.Source.Slot;

    /// <param name="requestedCut">The window boundary a scheduled flush cuts at, or now for a forced flush.</param>
    public async Task<FlushResult> FlushAsync(DateTime requestedCut, CancellationToken ct)
    {
        await using var lockConn = await source.OpenConnectionAsync(ct);
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(hashtext('pgegress.flush.' || $1))", lockConn)
        {
            Parameters = { new() { Value = Slot } },
        })
            await take.ExecuteNonQueryAsync(ct);

        var cursor = await registry.GetCursorAsync(Slot, RegistryStore.FlushConsumer, ct);
        var from = cursor?.Lsn ?? 0;
        var window = BatchWindow.For(requestedCut, cursor?.LastCut is { } c ? DateTime.SpecifyKind(c, DateTimeKind.Utc) : null, options.Batch.Interval);
        var batch = OutputLayout.Batch(window.Start);
        var segments = await registry.GetSegmentsAsync(Slot, from, ct);
        if (segments.Count == 0)
        {
            await registry.CommitFlushAsync(Slot, [], new Dictionary<string, (int, string)>(), from, window.Cut, ct);
            return new FlushResult(batch, window.Cut, PgText.Lsn(from), PgText.Lsn(from), 0, [], 0);
        }

        var to = segments[^1].EndLsn;
        // Under the lock no other flush of this slot runs, so whatever a killed one left in the folder is garbage.
        var flushRoot = Path.Combine(options.WorkDirectory, Slot, "flush");
        if (Directory.Exists(flushRoot)) Directory.Delete(flushRoot, recursive: true);
        var work = Path.Combine(flushRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var states = await registry.GetTableStatesAsync(ct);
            var tables = await WritePartsAsync(segments, from, work, ct);
            // From the first upload to the registration the flush is not torn by shutdown: stopping in between would
            // leave complete but unregistered batch files in the output. These steps are short (the parts are already
            // on local disk); a crash here is still safe, as readers trust only the registry.
            var (files, schemas) = await UploadAsync(tables, states, batch, CancellationToken.None);
            CrashPoint.Hit(CrashPoint.FlushFilesWritten);
            await registry.CommitFlushAsync(Slot, files, schemas, to, window.Cut, CancellationToken.None);
            CrashPoint.Hit(CrashPoint.FlushRegistered);
            // Logged once registered: the clean-up below may still be cancelled by shutdown, the batch stays.
            logger.LogInformation("Flushed batch {Batch}: {Files} file(s), {Rows} row(s), LSN {From} to {To}",
                batch, files.Count, files.Sum(f => f.Rows), PgText.Lsn(from), PgText.Lsn(to));
            var deleted = await DeletePassedSegmentsAsync(ct);
            return new FlushResult(batch, window.Cut, PgText.Lsn(from), PgText.Lsn(to), segments.Count,
                [.. files.Select(f => new FlushedFile(f.Table, f.Path, f.Rows, f.Bytes, PgText.Lsn(f.StartLsn), PgText.Lsn(f.EndLsn)))], deleted);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Streams every staged transaction after <paramref name="from"/> into per-table CSV parts on local disk.</summary>
    private async Task<Dictionary<string, List<CsvPartWriter>>> WritePartsAsync(List<SegmentRecord> segments, ulong from, string work, CancellationToken ct)
    {
        var tables = new Dictionary<string, List<CsvPartWriter>>(StringComparer.Ordinal);
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
                    var skip = txn.EndLsn <= from;
                    var seq = 0;
                    while (reader.NextChange(out var change))
                    {
                        if (skip) continue;
                        foreach (var row in ChangeRows.From(change))
                        {
                            seq++;
                            var part = PartFor(row.Relation);
                            part.Write(row, txn, seq);
                        }
                    }
                    ct.ThrowIfCancellationRequested();
                }
            }
            foreach (var part in tables.Values.SelectMany(p => p)) part.Close();
            return tables;
        }
        catch
        {
            foreach (var part in tables.Values.SelectMany(p => p)) part.Dispose();
            throw;
        }

        CsvPartWriter PartFor(RelationSchema relation)
        {
            if (!tables.TryGetValue(relation.QualifiedName, out var parts)) tables[relation.QualifiedName] = parts = [];
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

    private async Task<(List<FileRecord> Files, Dictionary<string, (int, string)> Schemas)> UploadAsync(
        Dictionary<string, List<CsvPartWriter>> tables, Dictionary<string, TableStateRecord> states, string batch, CancellationToken ct)
    {
        var files = new List<FileRecord>();
        var schemas = new Dictionary<string, (int, string)>(StringComparer.Ordinal);
        foreach (var (table, parts) in tables)
        {
            var version = states.TryGetValue(table, out var state) ? state.SchemaVersion : 0;
            var fingerprint = state?.SchemaFingerprint;
            var folder = $"{OutputLayout.TableFolder(parts[0].Schema.Namespace, parts[0].Schema.Name)}/{batch}";
            for (var i = 0; i < parts.Count; i++)
            {
                var part = parts[i];
                if (part.Schema.Fingerprint != fingerprint)
                {
                    version++;
                    fingerprint = part.Schema.Fingerprint;
                }
                var path = $"{folder}/{OutputLayout.StreamingFile(i + 1, parts.Count)}";
                await using var file = File.OpenRead(part.SpoolPath);
                var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
                file.Position = 0;
                await store.PutAsync(path, file, ct);
                files.Add(new FileRecord(table, batch, path, "streaming", part.StartLsn, part.EndLsn, part.Rows, file.Length, sha, false, version));
            }
            var last = parts[^1];
            var yaml = SchemaDocument.For(last.Schema, version, parts[0].StartLsn, last.EndLsn).ToYaml();
            await using (var schemaStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(yaml)))
                await store.PutAsync($"{folder}/{OutputLayout.SchemaFile}", schemaStream, ct);
            schemas[table] = (version, fingerprint!);
        }
        return (files, schemas);
    }

    /// <summary>Deletes the staged segments every consumer has passed: the object first, then its row, so a crash in between leaves only a row pointing below every cursor.</summary>
    private async Task<int> DeletePassedSegmentsAsync(CancellationToken ct)
    {
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
