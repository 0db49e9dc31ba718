using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Npgsql;
using PgEgress.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Tests.Durability;

/// <summary>
/// The invariant "memory stays bounded whatever the size of a transaction": one transaction of two million wide rows
/// (about 330 MB as PostgreSQL text, 440 MB as CSV) passes through the real host into the files exactly, while the
/// host's peak resident memory stays well below the size of the transaction.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LargeTransactionTests(PostgresFixture pg, ITestOutputHelper output)
{
    private const int Rows = 2_000_000;

    /// <summary>
    /// The bound on the host's peak RSS (VmHWM). The transaction's row text alone is 328 MB (313 MiB), more than the
    /// bound, so a host that held the transaction (or the batch) in memory fails it even before counting its own
    /// baseline. A streaming host needs its baseline (the .NET runtime, ASP.NET Core, Npgsql: about 80 MiB measured
    /// after start) plus bounded buffers (the 8 MiB in-memory part of a transaction spill, gzip and copy buffers) and
    /// the garbage collector's slack: 139 MiB measured on the 2-core build machine, so the bound leaves ~115 MiB of room.
    /// </summary>
    private const long PeakRssBound = 256L << 20;

    private const string Table = """
        CREATE TABLE app.wide (
            id      bigint PRIMARY KEY,
            code    text NOT NULL,
            payload text,
            amount  numeric(14,2),
            at      timestamptz);
        """;

    /// <summary>About 165 bytes of text per row: two md5 strings make 128 incompressible-ish characters.</summary>
    private static readonly string Insert = $"""
        INSERT INTO app.wide
        SELECT g, md5(g::text) || md5((g * 7)::text), 'row ' || g || ', "quoted" ' || md5((g * 13)::text),
               (g % 100000) / 100.0, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
        FROM generate_series(1, {Rows}) g
        """;

    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_two_million_row_transaction_passes_through_the_host_exactly_in_bounded_memory()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "large_txn", Table);
        var clock = Stopwatch.StartNew();
        await using var host = await rig.StartHostAsync();
        var baseline = host.PeakRssBytes;

        await rig.ExecAsync(Insert); // one statement in autocommit: one transaction
        var committed = await rig.CurrentWalLsnAsync();
        var textBytes = await rig.ScalarAsync<long>("SELECT sum(length(w::text)) FROM app.wide w");
        output.WriteLine($"committed {Rows:N0} rows ({textBytes / 1e6:0} MB as row text) in {clock.Elapsed.TotalSeconds:0.0} s");

        // The consumer has staged the whole transaction once the slot is past it; the flush then turns it into files.
        await rig.WaitConfirmedAsync(committed, TimeSpan.FromSeconds(150), () => DurabilityRig.Tail(host));
        output.WriteLine($"staged and acknowledged at {clock.Elapsed.TotalSeconds:0.0} s");
        var flush = await DurabilityRig.FlushAsync(host);
        output.WriteLine($"flushed at {clock.Elapsed.TotalSeconds:0.0} s: {flush}");
        var peak = host.PeakRssBytes;
        output.WriteLine($"host peak RSS (VmHWM): {peak / 1048576.0:0} MiB (baseline after start {baseline / 1048576.0:0} MiB; bound {PeakRssBound >> 20} MiB)");

        // Exact comparison: load every registered file of the table with COPY and join it with the source on the key.
        var files = new List<(string Path, long Rows)>();
        await using (var cmd = rig.Db.CreateCommand("SELECT path, rows FROM cdc_registry.file_log WHERE table_name = 'app.wide' ORDER BY end_lsn, path"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) files.Add((r.GetString(0), r.GetInt64(1)));
        Assert.NotEmpty(files);
        Assert.Equal(Rows, files.Sum(f => f.Rows));

        await using var conn = await rig.Db.OpenConnectionAsync();
        await ExecAsync(conn, """
            CREATE UNLOGGED TABLE loaded (_lsn pg_lsn, _seq int, _op char(1), _commit_ts timestamptz, _xid bigint, _unchanged_toast text[],
                                          id bigint, code text, payload text, amount numeric(14,2), at timestamptz)
            """);
        foreach (var (path, _) in files)
        {
            await using var file = await rig.Store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path);
            using var csv = new StreamReader(new GZipStream(file, CompressionMode.Decompress), Encoding.UTF8);
            await using var copy = await conn.BeginTextImportAsync("COPY loaded FROM STDIN (FORMAT csv, HEADER)");
            var buffer = new char[1 << 16];
            int read;
            while ((read = await csv.ReadAsync(buffer)) > 0) await copy.WriteAsync(buffer, 0, read);
        }
        output.WriteLine($"loaded the files at {clock.Elapsed.TotalSeconds:0.0} s");

        await using (var cmd = new NpgsqlCommand("""
            SELECT count(*), count(DISTINCT _lsn), count(DISTINCT _xid), count(*) FILTER (WHERE _op <> 'I'),
                   count(DISTINCT _seq), min(_seq), max(_seq), count(*) FILTER (WHERE _unchanged_toast IS NOT NULL)
            FROM loaded
            """, conn))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            Assert.Equal(Rows, r.GetInt64(0));
            Assert.Equal(1, r.GetInt64(1));             // one transaction: one _lsn
            Assert.Equal(1, r.GetInt64(2));             // and one _xid
            Assert.Equal(0, r.GetInt64(3));             // only inserts
            Assert.Equal(Rows, r.GetInt64(4));          // every position once: 1 … 2,000,000
            Assert.Equal(1, r.GetInt32(5));
            Assert.Equal(Rows, r.GetInt32(6));
            Assert.Equal(0, r.GetInt64(7));
        }
        var mismatches = await ScalarAsync<long>(conn, """
            SELECT count(*) FROM app.wide w FULL JOIN loaded l USING (id)
            WHERE w.id IS NULL OR l.id IS NULL OR (w.code, w.payload, w.amount, w.at) IS DISTINCT FROM (l.code, l.payload, l.amount, l.at)
            """);
        Assert.Equal(0, mismatches);
        output.WriteLine($"compared exactly at {clock.Elapsed.TotalSeconds:0.0} s");

        Assert.True(peak < PeakRssBound,
            $"the host's peak RSS was {peak / 1048576.0:0} MiB, over the {PeakRssBound >> 20} MiB bound, for a transaction of {textBytes / 1e6:0} MB");
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
