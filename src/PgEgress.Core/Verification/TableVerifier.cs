using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Domain;
using PgEgress.Core.Metrics;
using PgEgress.Core.Output;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Verification;

/// <summary>
/// Compares one table at a consistent point C with what a loader rebuilds from the registered files up to C, the
/// data-diff way: per bucket of the key hash, count and hash sum on both sides; only differing buckets are bisected
/// (two more hex digits a level) until they are small, then their rows are compared key by key. C is a temporary
/// slot's exported snapshot, as for a reload: the snapshot holds exactly the transactions ending at or before C, so the
/// file rows with <c>_lsn</c> ≤ C. The flush is forced up to C (and no further), so the files hold every such
/// transaction and none straddles C.
/// </summary>
public sealed class TableVerifier(
    PgEgressOptions options,
    NpgsqlDataSource source,
    ForcedFlush flush,
    IObjectStore store,
    OperationStore operations,
    RepairWriter repairs,
    PgEgressMeter meter,
    ILogger<TableVerifier> logger)
{
    /// <summary>A differing bucket with at most this many rows on either side is compared row by row instead of bisected.</summary>
    public const int LeafRows = 1000;

    /// <summary>How long the flush up to C may wait for ingest to stage past it.</summary>
    public static readonly TimeSpan FlushTimeout = TimeSpan.FromMinutes(2);

    public async Task<VerificationOutcome> RunAsync(VerificationRecord request, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var outcome = new VerificationOutcome();
        var table = TableName.ParseStored(request.Table);
        if (await NotComparableAsync(table, ct) is { } reason)
        {
            outcome.Skipped = reason;
            return outcome;
        }

        await using var exportSource = new NpgsqlDataSourceBuilder(options.Source.ConnectionString)
        {
            ConnectionStringBuilder = { CommandTimeout = 0, ApplicationName = "pgegress-verify" },
        }.Build();
        SnapshotWorkers workers;
        ulong consistent;
        await using (var replication = new LogicalReplicationConnection(options.Source.ConnectionString))
        {
            await replication.Open(ct);
            var slot = await replication.CreatePgOutputReplicationSlot($"pgegress_verify_{Guid.NewGuid():N}"[..40], temporarySlot: true,
                slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
            consistent = (ulong)slot.ConsistentPoint;
            workers = await SnapshotWorkers.OpenAsync(exportSource, slot.SnapshotName!, 1, ct);
        }
        outcome.ConsistentLsn = consistent;
        await using (workers)
        {
            var conn = workers.Connections[0];
            var shape = await DatabaseSide.ShapeAsync(conn, table, ct) ?? throw new InvalidOperationException($"table {table} is gone");
            var db = new DatabaseSide(conn, table, shape);
            // The database's first level scans under the snapshot while this process flushes and replays the files.
            using var stopScan = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var firstLevel = db.BucketsAsync(RowEncoding.FirstLevelDigits, null, stopScan.Token);
            Dictionary<string, BucketStats> dbFirst;
            var folder = Path.Combine(options.WorkDirectory, options.Source.Slot, "verify", request.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            List<(ReplayFile File, long Bytes, int SchemaVersion)> files;
            FileReplay replay;
            try
            {
                var cursor = await FlushCursorAsync(ct);
                if (cursor < consistent) await flush.RunAsync(FlushTimeout, ct, upTo: consistent);
                // Checked again after the flush: a reload or a failure may have come meanwhile.
                if ((await NotComparableAsync(table, ct) ?? await SupersededAsync(table, consistent, ct)) is { } later)
                {
                    outcome.Skipped = later;
                    return outcome;
                }
                files = await FilesAsync(table, consistent, ct);
                replay = new FileReplay(folder, shape.Columns, shape.Key, files.Sum(f => f.Bytes) > 64L << 20 ? 2 : 1);
                await replay.BuildAsync(store, [.. files.Select(f => f.File)], consistent, ct);
                dbFirst = await firstLevel;
            }
            finally
            {
                if (!firstLevel.IsCompleted)
                {
                    await stopScan.CancelAsync();
                    try { await firstLevel; } catch (Exception) when (stopScan.IsCancellationRequested) { }
                }
            }
            using var _replay = replay;
            outcome.FileRows = replay.FileRows;

            RepairWriter.Draft? draft = request.Repair || options.Health.AutoRepair ? repairs.Start(folder, shape, consistent) : null;
            using var _ = draft;
            await CompareAsync(db, dbFirst, replay, shape, outcome, draft, ct);
            meter.Verified(table.ToString(), outcome, clock.Elapsed);
            logger.LogInformation("Verified {Table} at {Lsn}: {Rows} row(s), {Missing} missing from the files, {Extra} only in them, {Different} different",
                table, PgText.Lsn(consistent), outcome.RowsScanned, outcome.MissingInFiles, outcome.OnlyInFiles, outcome.Different);
            if (draft is not null && outcome.Discrepancies > 0)
                await RepairAsync(request, table, shape, draft, replay, files, consistent, outcome, ct);
        }
        return outcome;
    }

    private async Task RepairAsync(VerificationRecord request, TableName table, TableShape shape, RepairWriter.Draft draft, FileReplay replay,
        List<(ReplayFile File, long Bytes, int SchemaVersion)> files, ulong consistent, VerificationOutcome outcome, CancellationToken ct)
    {
        if (outcome.Discrepancies > options.Health.RepairMaxFraction * Math.Max(1, outcome.RowsScanned))
        {
            var reload = await operations.RequestAsync(options.Source.Slot, table, "verify", ct);
            outcome.ReloadOperationId = reload.Operation?.Id;
            logger.LogWarning("{Table}: {Count} discrepancies exceed {Fraction:P0} of {Rows} row(s); requested reload {Operation} instead of a repair",
                table, outcome.Discrepancies, options.Health.RepairMaxFraction, outcome.RowsScanned, outcome.ReloadOperationId);
            return;
        }
        if (replay.Straddles)
            throw new InvalidOperationException($"a file of {table} holds changes on both sides of {PgText.Lsn(consistent)}, so a repair at it cannot go between files; verify again");
        outcome.RepairPath = await draft.RegisterAsync(table, request.Id, files.Select(f => f.SchemaVersion).DefaultIfEmpty(1).Last(), ct);
    }

    /// <summary>Buckets level by level, bisecting the differing ones; leaves are compared row by row.</summary>
    private static async Task CompareAsync(DatabaseSide db, Dictionary<string, BucketStats> dbFirst, FileReplay replay, TableShape shape,
        VerificationOutcome outcome, RepairWriter.Draft? draft, CancellationToken ct)
    {
        var digits = RowEncoding.FirstLevelDigits;
        PrefixSet? within = null;
        IReadOnlyCollection<string>? withinList = null;
        var leaves = new List<string>();
        var first = true;
        while (true)
        {
            var dbBuckets = first ? dbFirst : await db.BucketsAsync(digits, within, ct);
            var fileBuckets = replay.Buckets(digits, withinList);
            if (first) outcome.RowsScanned = dbBuckets.Values.Sum(b => b.Count);
            first = false;
            var keys = dbBuckets.Keys.Union(fileBuckets.Keys).ToList();
            outcome.BucketsCompared += keys.Count;
            var bisect = new List<string>();
            foreach (var k in keys)
            {
                var d = dbBuckets.GetValueOrDefault(k);
                var f = fileBuckets.GetValueOrDefault(k);
                if (d == f) continue;
                if (Math.Max(d.Count, f.Count) <= LeafRows || digits + RowEncoding.DigitsPerLevel > RowEncoding.MaxDigits) leaves.Add(k);
                else bisect.Add(k);
            }
            if (bisect.Count == 0) break;
            outcome.BucketsBisected += bisect.Count;
            within = new PrefixSet(bisect);
            withinList = bisect;
            digits += RowEncoding.DigitsPerLevel;
        }
        if (leaves.Count == 0) return;

        // Both sides in key-hash order, merged; the file side partition by partition (partitions follow the hash's order).
        var set = new PrefixSet(leaves);
        var fileRows = leaves.GroupBy(replay.PartitionOf).OrderBy(g => g.Key)
            .SelectMany(g => replay.Rows([.. g]).OrderBy(r => r.KeyHash, StringComparer.Ordinal));
        using var files = fileRows.GetEnumerator();
        var fileNext = files.MoveNext() ? files.Current : null;
        await foreach (var row in db.RowsAsync(set, ct))
        {
            while (fileNext is not null && string.CompareOrdinal(fileNext.KeyHash, row.KeyHash) < 0)
            {
                Extra(fileNext, fileNext.Count);
                fileNext = files.MoveNext() ? files.Current : null;
            }
            if (fileNext is not null && fileNext.KeyHash == row.KeyHash)
            {
                if (!shape.HasKey)
                {
                    if (row.Count > fileNext.Count) Missing(row, row.Count - fileNext.Count);
                    else if (fileNext.Count > row.Count) Extra(fileNext, fileNext.Count - row.Count);
                }
                else if (fileNext.RowHash != row.RowHash || !fileNext.Values.SequenceEqual(row.Values))
                {
                    var columns = Enumerable.Range(0, shape.Columns.Count).Where(i => fileNext.Values[i] != row.Values[i]).Select(i => shape.Columns[i]).ToList();
                    outcome.Add(new Discrepancy("different", VerificationStore.KeyJson(shape, row.Values), columns));
                    draft?.Update(row.Values);
                }
                fileNext = files.MoveNext() ? files.Current : null;
            }
            else Missing(row, row.Count);
        }
        while (fileNext is not null)
        {
            Extra(fileNext, fileNext.Count);
            fileNext = files.MoveNext() ? files.Current : null;
        }

        void Missing(FileRow row, long count)
        {
            for (var i = 0; i < count; i++)
            {
                outcome.Add(new Discrepancy("missing", VerificationStore.KeyJson(shape, row.Values), null));
                draft?.Insert(row.Values);
            }
        }

        void Extra(FileRow row, long count)
        {
            for (var i = 0; i < count; i++)
            {
                outcome.Add(new Discrepancy("extra", VerificationStore.KeyJson(shape, row.Values), null));
                draft?.Delete(row.Values);
            }
        }
    }

    /// <summary>
    /// Why the table cannot be compared now (its files are not meant to be whole), or null. A completed reload whose
    /// operation the flush has not released yet is fine: once ingest is past C and the flush has written every staged
    /// transaction up to C, the only changes such a hold keeps back end after the staged log, so after C.
    /// </summary>
    private async Task<string?> NotComparableAsync(TableName table, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT (SELECT mode FROM cdc_registry.table_state WHERE table_name = $2),
                   EXISTS (SELECT 1 FROM cdc_registry.flush_failures WHERE slot = $1 AND table_name = $2),
                   (SELECT id || ' ' || state FROM cdc_registry.operations WHERE slot = $1 AND table_name = $2
                    AND state IN ('requested', 'exporting') ORDER BY id LIMIT 1)
            """);
        cmd.Parameters.Add(new() { Value = options.Source.Slot });
        cmd.Parameters.Add(new() { Value = table.ToString() });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var mode = r.IsDBNull(0) ? null : r.GetString(0);
        if (!r.IsDBNull(2)) return $"skipped: table is reloading (operation {r.GetString(2)})";
        if (mode is "pending_reload" or "reloading") return $"skipped: table is {mode.Replace('_', ' ')}";
        if (r.GetBoolean(1)) return "skipped: the flush cannot write the table (see flush_failures)";
        return null;
    }

    /// <summary>A reload registered at or after C supersedes the streamed changes before it: the files up to C are not whole.</summary>
    private async Task<string?> SupersededAsync(TableName table, ulong consistent, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT EXISTS (SELECT 1 FROM cdc_registry.file_log WHERE table_name = $1 AND file_type = 'full_reload' AND end_lsn > $2)");
        cmd.Parameters.Add(new() { Value = table.ToString() });
        cmd.Parameters.Add(new() { Value = new NpgsqlLogSequenceNumber(consistent), NpgsqlDbType = NpgsqlDbType.PgLsn });
        return (bool)(await cmd.ExecuteScalarAsync(ct))! ? "skipped: a reload after the consistent point replaced the table's files" : null;
    }

    private async Task<ulong> FlushCursorAsync(CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT lsn FROM cdc_registry.cursors WHERE slot = $1 AND consumer = $2");
        cmd.Parameters.Add(new() { Value = options.Source.Slot });
        cmd.Parameters.Add(new() { Value = RegistryStore.FlushConsumer });
        return await cmd.ExecuteScalarAsync(ct) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    /// <summary>
    /// The files a loader applies up to C, in the contract's order: the newest full_reload at or before C, then the
    /// streaming and repair files after it that hold rows at or before C, by end_lsn (a repair after the streaming
    /// files ending at its LSN).
    /// </summary>
    private async Task<List<(ReplayFile File, long Bytes, int SchemaVersion)>> FilesAsync(TableName table, ulong consistent, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            WITH reload AS (SELECT max(end_lsn) AS lsn FROM cdc_registry.file_log WHERE table_name = $1 AND file_type = 'full_reload' AND end_lsn <= $2)
            SELECT path, file_type, start_lsn, end_lsn, bytes, schema_version FROM cdc_registry.file_log, reload
            WHERE table_name = $1 AND (
                (file_type = 'full_reload' AND id = (SELECT max(id) FROM cdc_registry.file_log WHERE table_name = $1 AND file_type = 'full_reload' AND end_lsn = reload.lsn))
                OR (file_type IN ('streaming', 'repair') AND start_lsn <= $2 AND (reload.lsn IS NULL OR end_lsn > reload.lsn)))
            ORDER BY end_lsn, CASE file_type WHEN 'full_reload' THEN 0 WHEN 'streaming' THEN 1 ELSE 2 END, path
            """);
        cmd.Parameters.Add(new() { Value = table.ToString() });
        cmd.Parameters.Add(new() { Value = new NpgsqlLogSequenceNumber(consistent), NpgsqlDbType = NpgsqlDbType.PgLsn });
        var list = new List<(ReplayFile, long, int)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add((new ReplayFile(r.GetString(0), r.GetString(1), (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(2), (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(3)),
                r.GetInt64(4), r.GetInt32(5)));
        return list;
    }
}
