using System.Diagnostics;
using Npgsql;
using PgEgress.Core.Output;

namespace PgEgress.Bench;

/// <summary>The change set both contenders decode: where it starts and ends in the WAL, and what it holds.</summary>
public sealed record LoadedChanges(long Rows, int Transactions, ulong StartLsn, ulong EndLsn, TimeSpan LoadTime, bool EndFromWalInspect)
{
    /// <summary>WAL written by the load (the inserts, their commits, and nothing else: the server is otherwise idle).</summary>
    public long WalBytes => (long)(EndLsn - StartLsn);
}

/// <summary>The benchmark's table, publication and load. Nothing here is timed against the contenders.</summary>
public static class BenchWorkload
{
    public const string Publication = "bench_pub";
    public const string Table = "bench";
    public const string WarmupTable = "warmup";

    // Seven columns of mixed types; a row's heap tuple is ~100 bytes, its text output ~85 bytes.
    public const string Columns = """
        id int PRIMARY KEY,
        val text NOT NULL,
        amount numeric(12,2),
        qty int,
        created_at timestamptz NOT NULL,
        active boolean,
        note text
        """;

    /// <summary>The rows <c>$1</c> to <c>$2</c> of <see cref="Columns"/>, for an <c>INSERT INTO table</c>.</summary>
    public const string RowsSelect = """
        SELECT g, 'row ' || g, (g % 100000) / 100.0, g % 1000,
               timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', g % 3 = 0, md5(g::text)
        FROM generate_series($1::int, $2::int) g
        """;

    /// <summary>
    /// Tables (autovacuum off, so no vacuum competes for the two cores during the runs), the publication, and
    /// pg_walinspect to find the load's exact end LSN.
    /// </summary>
    public static Task CreateSchemaAsync(NpgsqlDataSource db, CancellationToken ct) =>
        CreateSchemaAsync(db, Publication, [Table, WarmupTable], ct);

    /// <summary>The same for other tables of <see cref="Columns"/> and a publication of them all.</summary>
    public static Task CreateSchemaAsync(NpgsqlDataSource db, string publication, IReadOnlyList<string> tables, CancellationToken ct) =>
        ExecuteAsync(db,
            string.Concat(tables.Select(t => $"CREATE TABLE {t} ({Columns}) WITH (autovacuum_enabled = false);\n"))
            + $"CREATE PUBLICATION {publication} FOR TABLE {string.Join(", ", tables)};\n"
            + "CREATE EXTENSION IF NOT EXISTS pg_walinspect;", ct);

    /// <summary>
    /// Inserts <paramref name="rows"/> rows into <paramref name="table"/> in <paramref name="transactions"/> transactions
    /// and returns the WAL range they occupy. The end is the end LSN of the last commit record (what pgoutput reports
    /// as the transaction's end LSN, and what pg_recvlogical's --endpos must be to stop right after it).
    /// </summary>
    public static async Task<LoadedChanges> LoadAsync(NpgsqlDataSource db, string table, long rows, int transactions, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var start = await ScalarLsnAsync(conn, "SELECT pg_current_wal_insert_lsn()::text", ct);
        var clock = Stopwatch.StartNew();
        long next = 1;
        for (var t = 0; t < transactions; t++)
        {
            var count = rows / transactions + (t < rows % transactions ? 1 : 0);
            var (from, to) = (next, next + count - 1);
            next += count;
            if (t < transactions - 1)
            {
                await InsertAsync(conn, null, table, from, to, ct);
                continue;
            }

            // The last transaction: note its xid and where WAL stood just before its commit record.
            await using var txn = await conn.BeginTransactionAsync(ct);
            await InsertAsync(conn, txn, table, from, to, ct);
            string xid;
            ulong beforeCommit;
            await using (var cmd = new NpgsqlCommand("SELECT pg_current_xact_id()::text, pg_current_wal_insert_lsn()::text", conn, txn))
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                await r.ReadAsync(ct);
                (xid, beforeCommit) = (r.GetString(0), PgText.ParseLsn(r.GetString(1)));
            }
            await txn.CommitAsync(ct);
            var loadTime = clock.Elapsed;
            var (end, exact) = await CommitEndAsync(conn, xid, beforeCommit, ct);
            return new LoadedChanges(rows, transactions, start, end, loadTime, exact);
        }
        throw new UnreachableException();
    }

    private static async Task InsertAsync(NpgsqlConnection conn, NpgsqlTransaction? txn, string table, long from, long to, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"INSERT INTO {table} {RowsSelect}", conn, txn) { CommandTimeout = 0 };
        cmd.Parameters.Add(new() { Value = checked((int)from) });
        cmd.Parameters.Add(new() { Value = checked((int)to) });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The end LSN of the commit record of <paramref name="xid"/>, read from the WAL with pg_walinspect.</summary>
    private static async Task<(ulong Lsn, bool Exact)> CommitEndAsync(NpgsqlConnection conn, string xid, ulong beforeCommit, CancellationToken ct)
    {
        // The commit has flushed its record, so the flush LSN is past it (pg_walinspect in PG15 reads only flushed WAL).
        var flushed = await ScalarLsnAsync(conn, "SELECT pg_current_wal_flush_lsn()::text", ct);
        try
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT end_lsn::text FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)
                WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT' AND xid::text = $3
                """, conn);
            cmd.Parameters.Add(new() { Value = PgText.Lsn(beforeCommit) });
            cmd.Parameters.Add(new() { Value = PgText.Lsn(flushed) });
            cmd.Parameters.Add(new() { Value = xid });
            if (await cmd.ExecuteScalarAsync(ct) is string end) return (PgText.ParseLsn(end), true);
        }
        catch (PostgresException e) when (e.SqlState is "42883" or "0A000" or "22023")
        {
            // pg_walinspect missing or unhappy: fall back below.
        }
        // Without pg_walinspect: the insert position right after the commit (exact unless another record slipped in).
        return (await ScalarLsnAsync(conn, "SELECT pg_current_wal_insert_lsn()::text", ct), false);
    }

    public static async Task<ulong> ScalarLsnAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return PgText.ParseLsn((string)(await cmd.ExecuteScalarAsync(ct))!);
    }

    /// <summary>A pgoutput slot made with SQL (for pg_recvlogical); PgEgress's slots are made by its own SourceSetup.</summary>
    public static async Task CreateSlotAsync(NpgsqlDataSource db, string slot, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT pg_create_logical_replication_slot($1, 'pgoutput')");
        cmd.Parameters.Add(new() { Value = slot });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task ExecuteAsync(NpgsqlDataSource db, string sql, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(sql);
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlDataSource db, string sql, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(sql);
        return (T)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
