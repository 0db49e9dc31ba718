using System.IO.Compression;
using Npgsql;
using PgEgress.Core.Api;
using PgEgress.Core.Output;
using PgEgress.Core.Storage;
using PgEgress.Core.Verification;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Reload;

namespace PgEgress.Tests.Verification;

/// <summary>
/// The verifier against a running pipeline and real PostgreSQL: exact output verifies clean; output broken on purpose
/// (a row removed from a registered file, a file dropped from file_log, a value changed) is found key by key; repair
/// restores equality as the independent oracle (OutputVerifier) rebuilds it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class VerifierTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-verify-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private const string Tables = """
        CREATE SCHEMA app;
        CREATE TABLE app.t (id int PRIMARY KEY, at timestamptz, n numeric, b bytea, arr text[], j jsonb, s text, f float8, ok bool);
        CREATE TABLE app.bag (v text, w int);
        ALTER TABLE app.bag REPLICA IDENTITY FULL;
        """;

    private async Task<(NpgsqlDataSource Db, InProcessPipeline Pipeline)> StartAsync(string database, bool reloads = false, double repairMaxFraction = 0.1)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Tables);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, database));
        options.Health.RepairMaxFraction = repairMaxFraction;
        var pipeline = await InProcessPipeline.StartAsync(options, reloads: reloads);
        await ReloadRig.ExecAsync(db, """
            INSERT INTO app.t SELECT g, '2026-01-01 12:00+02'::timestamptz + g * interval '1.5 s', g * 1.10, decode(md5(g::text), 'hex'),
                ARRAY['a"b', NULL, 'c,d'], jsonb_build_object('k', g, 'q', 'x"y'), CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE E'line\nbreak "q"' END,
                g / 3.0, g % 2 = 0 FROM generate_series(1, 3000) g;
            UPDATE app.t SET s = 'changed' WHERE id % 100 = 0;
            DELETE FROM app.t WHERE id % 250 = 0;
            INSERT INTO app.bag SELECT 'v' || (g % 5), g % 2 FROM generate_series(1, 40) g;
            DELETE FROM app.bag WHERE ctid = (SELECT ctid FROM app.bag WHERE v = 'v1' LIMIT 1);
            """);
        await pipeline.FlushAsync();
        return (db, pipeline);
    }

    private static async Task<VerificationRecord> VerifyAsync(InProcessPipeline pipeline, string table, bool repair = false, string state = VerificationRecord.Completed)
    {
        var reply = await pipeline.Get<PgEgressApi>().RequestVerifyAsync(table, repair ? "true" : null, default);
        Assert.Equal(202, reply.StatusCode);
        var id = ((VerificationRecord)reply.Body!).Id;
        Assert.Equal(id, await pipeline.Get<VerificationRunner>().RunNextAsync(default));
        var done = await pipeline.Get<VerificationStore>().GetAsync(pipeline.Options.Source.Slot, id, default);
        Assert.NotNull(done);
        Assert.True(done.State == state, $"verification {id}: {done.State} {done.Error}");
        return done;
    }

    /// <summary>Rewrites a registered file without the rows <paramref name="drop"/> picks, or with <paramref name="change"/> applied;
    /// file_log's row count follows, so only the content is wrong (as if the flush had lost or garbled a change).</summary>
    private static async Task RewriteAsync(NpgsqlDataSource db, IObjectStore store, string path, Func<string?[], string?[], bool> drop, Action<string?[], string?[]>? change = null)
    {
        var spool = new MemoryStream();
        long rows = 0;
        using (var reader = await OutputFileReader.OpenAsync(store, path, default))
        using (var csv = new PgCsvWriter(new GZipStream(spool, CompressionLevel.Fastest, leaveOpen: true)))
        {
            var header = reader.Header;
            foreach (var h in header) csv.WriteValue(h!);
            csv.EndRow();
            while (reader.ReadRow() is { } row)
            {
                if (drop(header, row)) continue;
                change?.Invoke(header, row);
                rows++;
                foreach (var v in row)
                {
                    if (v is null) csv.WriteNull();
                    else csv.WriteValue(v);
                }
                csv.EndRow();
            }
        }
        spool.Position = 0;
        await store.PutAsync(path, spool, default);
        await using var cmd = db.CreateCommand("UPDATE cdc_registry.file_log SET rows = $2 WHERE path = $1");
        cmd.Parameters.Add(new() { Value = path });
        cmd.Parameters.Add(new() { Value = rows });
        await cmd.ExecuteNonQueryAsync();
    }

    private static string? Field(string?[] header, string?[] row, string name) => row[Array.IndexOf(header, name)];

    private static async Task<string> FileOfAsync(NpgsqlDataSource db, string table) =>
        await ReloadRig.ScalarAsync<string>(db, "SELECT path FROM cdc_registry.file_log WHERE table_name = $1 AND file_type = 'streaming' ORDER BY id LIMIT 1", table);

    [Fact]
    public async Task Exact_output_verifies_with_no_discrepancy_for_a_keyed_and_a_keyless_table()
    {
        var (db, pipeline) = await StartAsync("verify_exact");
        await using var _ = db;
        await using var __ = pipeline;
        var keyed = await VerifyAsync(pipeline, "app.t");
        Assert.Equal(2988L, keyed.RowsScanned);
        Assert.Equal((0L, 0L, 0L), (keyed.MissingInFiles!.Value, keyed.OnlyInFiles!.Value, keyed.Different!.Value));
        Assert.True(keyed.FileRows > keyed.RowsScanned, "every change of the files was replayed");
        var bag = await VerifyAsync(pipeline, "app.bag");
        Assert.Equal(39L, bag.RowsScanned);
        Assert.Equal(0L, bag.MissingInFiles + bag.OnlyInFiles + bag.Different);
    }

    [Fact]
    public async Task Broken_output_is_found_key_by_key_and_repair_restores_equality()
    {
        var (db, pipeline) = await StartAsync("verify_broken");
        await using var _ = db;
        await using var __ = pipeline;
        var store = pipeline.Store;
        // One file loses the insert of id 7, another row gets a changed value; a later file is dropped from the registry.
        await RewriteAsync(db, store, await FileOfAsync(db, "app.t"), (h, r) => Field(h, r, "id") == "7" && Field(h, r, "_op") == "I",
            (h, r) => { if (Field(h, r, "id") == "8" && Field(h, r, "_op") == "I") r[Array.IndexOf(h, "n")] = "42"; });
        await ReloadRig.ExecAsync(db, "INSERT INTO app.t VALUES (5001, now(), 1, NULL, NULL, NULL, 'late', 1, true), (5002, now(), 2, NULL, NULL, NULL, 'late', 2, false)");
        await pipeline.FlushAsync();
        await ReloadRig.ExecAsync(db, """
            DELETE FROM cdc_registry.file_log WHERE table_name = 'app.t' AND file_type = 'streaming' AND id = (SELECT max(id) FROM cdc_registry.file_log WHERE table_name = 'app.t')
            """);

        var found = await VerifyAsync(pipeline, "app.t");
        Assert.Equal(3L, found.MissingInFiles);
        Assert.Equal(0L, found.OnlyInFiles);
        Assert.Equal(1L, found.Different);
        var sample = found.Discrepancies!;
        Assert.Equal(["{\"id\":\"5001\"}", "{\"id\":\"5002\"}", "{\"id\":\"7\"}"], sample.Where(d => d.Kind == "missing").Select(d => d.Key).Order());
        var different = Assert.Single(sample, d => d.Kind == "different");
        Assert.Equal("{\"id\":\"8\"}", different.Key);
        Assert.Equal(["n"], different.Columns!);
        Assert.NotEmpty((await new OutputVerifier(db, store).RebuildAsync("app", "t")).Differences);

        var repaired = await VerifyAsync(pipeline, "app.t", repair: true);
        Assert.Equal(4L, repaired.MissingInFiles + repaired.Different);
        Assert.NotNull(repaired.RepairPath);
        Assert.Equal(1L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.file_log WHERE file_type = 'repair' AND rows = 4"));
        // Changes after the repair land in later files; the oracle applies the repair between them.
        await ReloadRig.ExecAsync(db, "UPDATE app.t SET s = 'after' WHERE id IN (7, 8, 5001)");
        await pipeline.FlushAsync();
        await new OutputVerifier(db, store).AssertExactAsync(("app", "t"));
        var again = await VerifyAsync(pipeline, "app.t");
        Assert.Equal(0L, again.MissingInFiles + again.OnlyInFiles + again.Different);
    }

    [Fact]
    public async Task Right_after_a_reload_the_files_from_it_verify_clean()
    {
        var (db, pipeline) = await StartAsync("verify_reload", reloads: true);
        await using var _ = db;
        await using var __ = pipeline;
        Assert.Equal(202, (await pipeline.Get<PgEgressApi>().RequestReloadAsync("app.t", default)).StatusCode);
        await ReloadRig.ExecAsync(db, "UPDATE app.t SET s = 'during' WHERE id < 20");
        await ReloadRig.WaitForOperationsAsync(db, pipeline.Options.Source.Slot, 1, TimeSpan.FromMinutes(1));
        // No flush and no change since the reload: the operation is not released yet, and the files are whole.
        var verified = await VerifyAsync(pipeline, "app.t");
        Assert.Equal(0L, verified.MissingInFiles + verified.OnlyInFiles + verified.Different);
        Assert.Equal(2988L, verified.RowsScanned);
    }

    [Fact]
    public async Task A_table_waiting_for_a_reload_or_failing_to_flush_is_skipped_with_the_reason()
    {
        var (db, pipeline) = await StartAsync("verify_skip");
        await using var _ = db;
        await using var __ = pipeline;
        await ReloadRig.ExecAsync(db, "UPDATE cdc_registry.table_state SET mode = 'pending_reload' WHERE table_name = 'app.t'");
        var pending = await VerifyAsync(pipeline, "app.t", state: VerificationRecord.Skipped);
        Assert.Equal("skipped: table is pending reload", pending.Error);
        Assert.Null(pending.MissingInFiles);
        await ReloadRig.ExecAsync(db, $"""
            UPDATE cdc_registry.table_state SET mode = 'streaming' WHERE table_name = 'app.t';
            INSERT INTO cdc_registry.flush_failures (slot, table_name, retry_from, error) VALUES ('{pipeline.Options.Source.Slot}', 'app.t', '0/1', 'disk full');
            """);
        var failing = await VerifyAsync(pipeline, "app.t", state: VerificationRecord.Skipped);
        Assert.StartsWith("skipped: the flush cannot write the table", failing.Error);
    }

    [Fact]
    public async Task Above_the_repair_fraction_a_reload_is_requested_instead_of_a_repair_file()
    {
        var (db, pipeline) = await StartAsync("verify_fraction", reloads: true, repairMaxFraction: 0.0001);
        await using var _ = db;
        await using var __ = pipeline;
        await RewriteAsync(db, pipeline.Store, await FileOfAsync(db, "app.t"), (h, r) => Field(h, r, "id") == "7" && Field(h, r, "_op") == "I");
        var found = await VerifyAsync(pipeline, "app.t", repair: true);
        Assert.Equal(1L, found.MissingInFiles);
        Assert.Null(found.RepairPath);
        Assert.NotNull(found.ReloadOperationId);
        Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.file_log WHERE file_type = 'repair'"));
        var ops = await ReloadRig.WaitForOperationsAsync(db, pipeline.Options.Source.Slot, 1, TimeSpan.FromMinutes(1));
        Assert.Equal("verify", Assert.Single(ops, o => o.Id == found.ReloadOperationId).RequestedVia);
        await pipeline.FlushAsync();
        await new OutputVerifier(db, pipeline.Store).AssertExactAsync(("app", "t"));
    }

    [Fact]
    public async Task A_keyless_table_compares_as_a_multiset()
    {
        var (db, pipeline) = await StartAsync("verify_bag");
        await using var _ = db;
        await using var __ = pipeline;
        // Drop one of the duplicate rows ('v2', 0) from the file: the multiset has one copy fewer.
        var dropped = false;
        await RewriteAsync(db, pipeline.Store, await FileOfAsync(db, "app.bag"), (h, r) =>
        {
            if (dropped || Field(h, r, "v") != "v2" || Field(h, r, "_op") != "I" || Field(h, r, "w") != "0") return false;
            return dropped = true;
        });
        var found = await VerifyAsync(pipeline, "app.bag");
        Assert.Equal((1L, 0L), (found.MissingInFiles!.Value, found.OnlyInFiles!.Value));
        Assert.Equal("{\"v\":\"v2\",\"w\":\"0\"}", Assert.Single(found.Discrepancies!).Key);
    }

    [Fact]
    public async Task The_verify_route_refuses_bad_unknown_and_unpublished_tables()
    {
        var (db, pipeline) = await StartAsync("verify_route");
        await using var _ = db;
        await using var __ = pipeline;
        await ReloadRig.ExecAsync(db, "CREATE TABLE public.outside (id int PRIMARY KEY)");
        var api = pipeline.Get<PgEgressApi>();
        Assert.Equal(400, (await api.RequestVerifyAsync("a.b.c", null, default)).StatusCode);
        Assert.Equal(400, (await api.RequestVerifyAsync("app.t", "maybe", default)).StatusCode);
        Assert.Equal(404, (await api.RequestVerifyAsync("app.nope", null, default)).StatusCode);
        Assert.Equal(409, (await api.RequestVerifyAsync("public.outside", null, default)).StatusCode);
        Assert.Equal(404, (await api.VerificationAsync("999", default)).StatusCode);
    }
}
