using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Replication;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Reload;

/// <summary>
/// Turns the tables to export into COPY units: a table larger than <see cref="ReloadOptions.SplitAboveBytes"/> becomes
/// CTID ranges of <see cref="ReloadOptions.RangeBytes"/> each, any other table one unit. Runs on a snapshot worker,
/// so every table is described as of the snapshot.
/// </summary>
internal static class ExportPlanner
{
    /// <summary>
    /// Adds the tables to <paramref name="plans"/> (as they are planned, so that a failure still leaves every spool folder
    /// made known), each with its spool folder created empty and its header member written, then orders them largest first.
    /// </summary>
    /// <returns>The tables left out because they were rewritten after the snapshot (their export would be empty).</returns>
    public static async Task<IReadOnlyList<ExportTable>> PlanAsync(NpgsqlConnection conn, IReadOnlyList<ExportTable> tables, ReloadOptions options,
        string spoolRoot, ulong consistentLsn, DateTime snapshotTime, List<TableExport> plans, CancellationToken ct)
    {
        List<ExportTable> rewritten = [];
        foreach (var table in tables)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT c.relkind, coalesce(pg_relation_size(c.oid), 0), c.reltuples, current_setting('block_size')::bigint FROM pg_class c WHERE c.oid = $1
                """, conn);
            cmd.Parameters.Add(new() { Value = table.Oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
            char kind;
            long size, blockSize;
            float reltuples;
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                if (!await r.ReadAsync(ct))
                    throw new InvalidOperationException($"{table.Name} (oid {table.Oid}) does not exist in the snapshot");
                (kind, size, reltuples, blockSize) = (r.GetChar(0), r.GetInt64(1), r.GetFloat(2), r.GetInt64(3));
            }
            if (kind is not ('r' or 'p'))
                throw new InvalidOperationException($"{table.Name} (oid {table.Oid}) is not a table (relkind '{kind}')");

            // Held until the round ends, like pg_dump's: a table-rewriting ALTER (which the snapshot does not protect
            // against: the rewritten table looks empty to it) waits instead of emptying the export.
            await using (var lockTable = new NpgsqlCommand("""
                SELECT format('LOCK TABLE %I.%I IN ACCESS SHARE MODE', n.nspname, c.relname)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1 AND has_table_privilege(c.oid, 'SELECT')
                """, conn) { Parameters = { new() { Value = table.Oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid } } })
            {
                // LOCK needs SELECT on the whole table; a role with column privileges only exports what it may, unlocked.
                if (await lockTable.ExecuteScalarAsync(ct) is string statement)
                {
                    await using var take = new NpgsqlCommand(statement, conn);
                    await take.ExecuteNonQueryAsync(ct);
                }
            }
            if (await RewrittenSinceSnapshotAsync(conn, table.Oid, ct))
            {
                rewritten.Add(table);
                continue;
            }
            var schema = await RelationCatalog.DescribeTableAsync(conn, table.Oid, ct);
            var folder = Path.Combine(spoolRoot, table.OperationId.ToString(), table.Oid.ToString());
            // Whatever is there was left by an export that did not finish: it is garbage.
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            Storage.PrivateFiles.CreateFolder(folder);
            var plan = new TableExport(table, schema, size, reltuples > 0 ? (long)reltuples : 0, folder);
            plans.Add(plan);

            // The header is its own gzip member, written as every streaming file's header is.
            using (var header = new CsvPartWriter(plan.HeaderPath, schema))
            {
                plan.Add(0, header.UncompressedBytes);
                header.Close();
            }

            // A partitioned table has no storage of its own (its rows, read through it, have no common CTID space), so it
            // is never split; a plain table is read with ONLY, as inheritance children are published as tables of their own.
            var source = $"{(kind == 'r' ? "ONLY " : "")}{Sql.Ident(schema.Namespace)}.{Sql.Ident(schema.Name)}";
            var select = $"SELECT {Select(schema, consistentLsn, snapshotTime)} FROM {source}";
            if (kind == 'r' && size > options.SplitAboveBytes)
            {
                var pages = (size + blockSize - 1) / blockSize;
                var pagesPerRange = Math.Max(1, options.RangeBytes / blockSize);
                var ranges = (pages + pagesPerRange - 1) / pagesPerRange;
                for (var i = 0L; i < ranges; i++)
                {
                    // The last range is open-ended: pages added since the size was read hold nothing the snapshot sees,
                    // but nothing is left to chance.
                    var where = i < ranges - 1
                        ? $"ctid >= '({i * pagesPerRange},0)'::tid AND ctid < '({(i + 1) * pagesPerRange},0)'::tid"
                        : $"ctid >= '({i * pagesPerRange},0)'::tid";
                    plan.Units.Add(Unit(plan, $"{select} WHERE {where}", i));
                }
            }
            else
            {
                plan.Units.Add(Unit(plan, select, 0));
            }
        }
        // Stable, so tables of equal size keep the caller's order.
        var largestFirst = plans.OrderByDescending(p => p.SizeBytes).ToList();
        plans.Clear();
        plans.AddRange(largestFirst);
        return rewritten;
    }

    /// <summary>
    /// Whether the table (or a partition of it) has other storage than the snapshot knows: the snapshot's pg_class row
    /// against the current one (pg_relation_filenode reads the catalog as of now, and the lock just taken has brought in
    /// every committed change to it). A rewrite gives the table new storage whose rows all carry the rewriting
    /// transaction's xid, which the snapshot does not see. After the lock no rewrite can start until the export ends.
    /// </summary>
    private static async Task<bool> RewrittenSinceSnapshotAsync(NpgsqlConnection conn, uint oid, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT EXISTS (SELECT 1 FROM pg_class c
                WHERE c.oid IN (SELECT $1 UNION SELECT relid FROM pg_partition_tree($1) WHERE isleaf)
                AND c.relfilenode <> 0 AND c.relfilenode IS DISTINCT FROM pg_relation_filenode(c.oid))
            """, conn) { Parameters = { new() { Value = oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid } } };
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static ExportUnit Unit(TableExport plan, string select, long index) =>
        new(plan, $"COPY ({select}) TO STDOUT (FORMAT csv)", Path.Combine(plan.SpoolFolder, $"range-{index:D6}.csv.gz"));

    /// <summary>
    /// The metadata columns (CsvPartWriter.MetadataColumns, in order) then the table's. _seq numbers the rows within their
    /// CTID range only: all rows of a reload share one _lsn and form one state of the table, so their order carries no
    /// meaning. The literals are PgEgress's own LSN and timestamp text, which hold no quote.
    /// </summary>
    private static string Select(RelationSchema schema, ulong consistentLsn, DateTime snapshotTime) => string.Join(", ",
    [
        $"'{PgText.Lsn(consistentLsn)}'", "row_number() OVER ()", "'R'", $"'{PgText.TimestampTz(snapshotTime)}'", "NULL", "NULL",
        .. schema.Columns.Select(c => Sql.Ident(c.Name)),
    ]);
}
