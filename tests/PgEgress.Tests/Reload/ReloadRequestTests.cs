using Npgsql;
using PgEgress.Core.Api;
using PgEgress.Core.Health;
using PgEgress.Core.Registry;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// Reloads asked for each of the three ways while a writer keeps changing the tables: the table rebuilds exactly from
/// its reload and the streaming files after it; other tables are never held up; bad requests are refused before
/// anything reaches the WAL.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReloadRequestTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-reload-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A database whose tables had rows before the slot existed (no initial load), so only a reload can make the files whole.</summary>
    private async Task<(NpgsqlDataSource Db, InProcessPipeline Pipeline)> StartAsync(string database, bool reloads = true)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Workload.Schema + "CREATE TABLE public.outside (id int PRIMARY KEY);");
        await Workload.RunAsync(db);
        await Churn.RunAsync(db, 0, 10);
        var pipeline = await InProcessPipeline.StartAsync(InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, database)), reloads: reloads);
        return (db, pipeline);
    }

    private static async Task<long> RequestAsync(NpgsqlDataSource db, InProcessPipeline pipeline, string way, string table)
    {
        switch (way)
        {
            case "http":
                var reply = await pipeline.Get<PgEgressApi>().RequestReloadAsync(table, default);
                Assert.Equal(202, reply.StatusCode);
                return ((OperationStatus)reply.Body!).Id;
            case "sql":
                return await ReloadRig.ScalarAsync<long>(db, $"SELECT cdc_registry.request_reload('{table}'::regclass)");
            default:
                await ReloadRig.ExecAsync(db, $"COMMENT ON TABLE {table} IS 'pgegress:reload'");
                return await ReloadRig.ScalarAsync<long>(db, "SELECT max(id) FROM cdc_registry.operations WHERE requested_via = 'comment'");
        }
    }

    [Theory]
    [InlineData("http")]
    [InlineData("sql")]
    [InlineData("comment")]
    public async Task A_reload_requested_during_writes_rebuilds_the_table_exactly(string way)
    {
        var (db, pipeline) = await StartAsync("reload_" + way);
        await using var _ = db;
        await using var __ = pipeline;
        using var stop = new CancellationTokenSource();
        var writer = ReloadRig.WriteUntilAsync(db, 10, big: false, stop.Token);
        await Churn.RunAsync(db, 100_000, 3);

        var id = await RequestAsync(db, pipeline, way, "app.accounts");
        var second = await RequestAsync(db, pipeline, "sql", "app.kitchen_sink");
        var ops = await ReloadRig.WaitForOperationsAsync(db, pipeline.Options.Source.Slot, 2, TimeSpan.FromMinutes(2));
        await stop.CancelAsync();
        var written = await writer;
        await Churn.RunAsync(db, 200_000, 3);
        await pipeline.FlushAsync();

        var op = ops.Single(o => o.Id == id);
        Assert.Equal(OperationRecord.Completed, op.State);
        Assert.Equal(way, op.RequestedVia);
        Assert.True(op.MarkerLsn < op.ConsistentLsn, $"marker {op.MarkerLsn} is not before the consistent point {op.ConsistentLsn}");
        Assert.Equal(1L, await ReloadRig.ScalarAsync<long>(db,
            "SELECT count(*) FROM cdc_registry.file_log WHERE file_type = 'full_reload' AND table_name = 'app.accounts' AND end_lsn = $1::text::pg_lsn",
            Core.Output.PgText.Lsn(op.ConsistentLsn!.Value)));
        Assert.True(written > 0);
        Assert.Equal(OperationRecord.Completed, ops.Single(o => o.Id == second).State);
        // Tables that were not reloaded miss their rows from before the slot, so only the reloaded ones are checked.
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ["accounts", "kitchen_sink"], expectReload: true);
    }

    [Fact]
    public async Task A_reload_that_cannot_start_holds_back_only_its_own_table()
    {
        var (db, pipeline) = await StartAsync("reload_hold");
        await using var _ = db;
        await using var __ = pipeline;
        var slot = pipeline.Options.Source.Slot;

        // An open transaction with an xid: the temporary slot of the reload waits for it to end before it has a snapshot.
        await using var blocker = await db.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var xid = new NpgsqlCommand("SELECT pg_current_xact_id()", blocker, tx)) await xid.ExecuteScalarAsync();

        var id = await RequestAsync(db, pipeline, "sql", "app.accounts");
        await ReloadRig.ExecAsync(db, "INSERT INTO app.accounts VALUES (900001, 'held', 1); INSERT INTO app.full_pk VALUES (900001, 'flows', 'x')");
        var flush = await pipeline.FlushAsync();

        Assert.Contains(flush.Files, f => f.Table == "app.full_pk");
        Assert.DoesNotContain(flush.Files, f => f.Table == "app.accounts");
        var op = await new OperationStore(db).GetAsync(id, default);
        Assert.NotNull(op!.MarkerLsn);
        Assert.False(op.Finished, $"the reload finished while its snapshot was blocked: {op.State}");
        Assert.NotEqual("streaming", await ReloadRig.ScalarAsync<string>(db, "SELECT mode FROM cdc_registry.table_state WHERE table_name = 'app.accounts'"));

        await tx.CommitAsync();
        await ReloadRig.WaitForOperationsAsync(db, slot, 1, TimeSpan.FromMinutes(2));
        await pipeline.FlushAsync();
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ["accounts"], expectReload: true);
        Assert.Equal(1L, await ReloadRig.ScalarAsync<long>(db,
            "SELECT count(*) FROM app.accounts WHERE id = 900001"));
    }

    [Fact]
    public async Task Bad_reload_requests_are_refused_and_write_nothing()
    {
        // No reload loop: requests stay pending, so the duplicate request meets the first one still waiting.
        var (db, pipeline) = await StartAsync("reload_bad", reloads: false);
        await using var _ = db;
        await using var __ = pipeline;
        var api = pipeline.Get<PgEgressApi>();

        var unknown = await api.RequestReloadAsync("app.nope", default);
        Assert.Equal(404, unknown.StatusCode);
        var outside = await api.RequestReloadAsync("public.outside", default);
        Assert.Equal(409, outside.StatusCode);
        Assert.Contains("not in publication", outside.Problem);
        foreach (var crafted in new[] { "app.accounts; DROP TABLE app.accounts; --", "app.accounts')); DROP TABLE app.accounts; --", "a.b.c.d", "\"unterminated" })
        {
            var reply = await api.RequestReloadAsync(crafted, default);
            Assert.True(reply.StatusCode is 400 or 404, $"'{crafted}' answered {reply.StatusCode}");
        }
        Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.operations"));
        Assert.True(await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM app.accounts") > 0, "app.accounts was dropped");
        var sqlOutside = await Assert.ThrowsAsync<PostgresException>(() => ReloadRig.ScalarAsync<long>(db, "SELECT cdc_registry.request_reload('public.outside'::regclass)"));
        Assert.Equal("55000", sqlOutside.SqlState);

        var first = await api.RequestReloadAsync("app.accounts", default);
        var again = await api.RequestReloadAsync("\"app\".\"accounts\"", default);
        var viaSql = await ReloadRig.ScalarAsync<long>(db, "SELECT cdc_registry.request_reload('app.accounts'::regclass)");
        Assert.Equal(202, first.StatusCode);
        Assert.Equal(200, again.StatusCode);
        var op = (OperationStatus)first.Body!;
        Assert.Equal(op.Id, ((OperationStatus)again.Body!).Id);
        Assert.False(((OperationStatus)again.Body!).Created);
        Assert.Equal(op.Id, viaSql);
        Assert.Equal(1L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.operations"));

        Assert.Equal(400, (await api.OperationAsync("x1", default)).StatusCode);
        Assert.Equal(404, (await api.OperationAsync("999999", default)).StatusCode);
        Assert.Equal(200, (await api.OperationAsync(op.Id.ToString(), default)).StatusCode);
    }

    [Fact]
    public async Task A_reload_marker_ends_its_slice_so_the_request_does_not_wait_for_the_time_bound()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("reload_slice");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Workload.Schema);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "slice"));
        options.Slice.MaxDuration = TimeSpan.FromHours(1);
        options.Slice.QuietAfterCommit = TimeSpan.Zero; // only the marker may end the slice
        options.Slice.MaxLatency = TimeSpan.FromHours(1);
        await using var pipeline = await InProcessPipeline.StartAsync(options, ingest: false);
        await using var consumer = pipeline.NewSliceConsumer();

        var id = await RequestAsync(db, pipeline, "sql", "app.accounts");
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var slice = await consumer.ConsumeSliceAsync(giveUp.Token);

        Assert.False(giveUp.IsCancellationRequested, "the slice ran until the test gave up on it");
        Assert.Equal(1, slice.ReloadMarkers);
        Assert.Equal(slice.EndLsn, (await new OperationStore(db).GetAsync(id, default))!.MarkerLsn);
    }
}
