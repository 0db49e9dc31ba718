using Npgsql;
using PgEgress.Core.Batching;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// A loader reads file_log in registration order: once a table's reload is registered, no streaming file of the table
/// with end_lsn at or before the reload's consistent point may be registered after it, however early a flush runs.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReloadFlushOrderTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-order-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Streaming files of app.items registered after its newest reload although the reload already has them.</summary>
    private const string Repeated = """
        SELECT count(*) FROM cdc_registry.file_log f JOIN cdc_registry.file_log r ON r.table_name = f.table_name
        WHERE r.file_type = 'full_reload' AND f.file_type = 'streaming' AND f.table_name = 'app.items' AND f.id > r.id AND f.end_lsn <= r.end_lsn
        """;

    [Fact]
    public async Task A_flush_before_the_staged_log_reaches_a_completed_reload_registers_no_file_of_the_table_that_the_reload_repeats()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("reload_order");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA app;
            CREATE TABLE app.items (id int PRIMARY KEY, v text);
            INSERT INTO app.items SELECT g, 'v' || g FROM generate_series(1, 100) g;
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        // Slices end on markers only, so the test decides how far the staged log goes.
        options.Slice.MaxDuration = TimeSpan.FromHours(1);
        options.Slice.QuietAfterCommit = TimeSpan.Zero;
        options.Slice.MaxLatency = TimeSpan.FromHours(1);
        await using var pipeline = await InProcessPipeline.StartAsync(options, ingest: false);
        await using var consumer = pipeline.NewSliceConsumer();
        var flusher = pipeline.Get<BatchFlusher>();

        await ReloadRig.ExecAsync(db, "UPDATE app.items SET v = 'changed' WHERE id = 1");
        var id = await ReloadRig.ScalarAsync<long>(db, "SELECT cdc_registry.request_reload('app.items'::regclass)");
        // The slice stages the update and ends on the marker; the reload's snapshot comes after both.
        var staged = await consumer.ConsumeSliceAsync(default);
        Assert.Equal(1, staged.ReloadMarkers);
        Assert.Equal(1, await pipeline.Get<ReloadCoordinator>().RunPendingAsync(default));
        var op = (await new OperationStore(db).GetAsync(id, default))!;
        Assert.Equal(OperationRecord.Completed, op.State);
        Assert.True(op.ConsistentLsn > staged.EndLsn, $"consistent point {op.ConsistentLsn} is not after the staged log's end {staged.EndLsn}");

        // Staged up to before C only: the update the reload contains must not follow the reload.
        await flusher.FlushAsync(DateTime.UtcNow, default);
        Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, Repeated));
        Assert.Null((await new OperationStore(db).GetAsync(id, default))!.ReleasedAt);

        // Then the staged log passes C: the held table flows on from the reload.
        await ReloadRig.ExecAsync(db, "INSERT INTO app.items VALUES (1000, 'after'); UPDATE app.items SET v = 'again' WHERE id = 2");
        await PgEgressMessages.EmitAsync(db, PgEgressMessages.Flush, default);
        var after = await consumer.ConsumeSliceAsync(default);
        Assert.True(after.EndLsn > op.ConsistentLsn);
        await flusher.FlushAsync(DateTime.UtcNow, default);
        Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, Repeated));
        Assert.NotNull((await new OperationStore(db).GetAsync(id, default))!.ReleasedAt);
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ["items"], expectReload: true);
    }
}
