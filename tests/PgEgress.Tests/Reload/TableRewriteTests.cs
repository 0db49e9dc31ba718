using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// A table rewritten (ALTER COLUMN … TYPE) after an export's snapshot and before the export locks it reads as empty
/// under that snapshot: the export must notice and go again under a fresh snapshot, for a reload and for the initial load.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class TableRewriteTests(PostgresFixture pg) : IDisposable
{
    private const int Rows = 2_100;
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-rewrite-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string Tables => $"""
        CREATE SCHEMA app;
        CREATE TABLE app.wide (id int PRIMARY KEY, v int NOT NULL);
        INSERT INTO app.wide SELECT g, g FROM generate_series(1, {Rows}) g;
        CREATE TABLE app.other (id int PRIMARY KEY);
        INSERT INTO app.other SELECT generate_series(1, 30);
        ANALYZE app.wide, app.other;
        """;

    private const string Rewrite = "ALTER TABLE app.wide ALTER COLUMN v TYPE bigint";

    [Fact]
    public async Task A_reload_whose_table_is_rewritten_after_its_snapshot_is_exported_again_with_every_row()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("rewrite_reload");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Tables);
        await using var pipeline = await InProcessPipeline.StartAsync(InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "reload")), reloads: true);

        var id = await ReloadRig.ScalarAsync<long>(db, "SELECT cdc_registry.request_reload('app.wide'::regclass)");
        await ReloadRig.WaitUntilAsync(db, "the marker is staged",
            "SELECT marker_lsn IS NOT NULL FROM cdc_registry.operations WHERE id = $1", TimeSpan.FromMinutes(1), id);

        // The gate: SHARE on the operations table lets the reload take its snapshot (a lock needs no xid, so the new
        // slot does not wait for it) and then stops it at the UPDATE that starts the export, before it locks app.wide.
        await using var gate = await db.OpenConnectionAsync();
        await using var gateTx = await gate.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand("LOCK TABLE cdc_registry.operations IN SHARE MODE", gate, gateTx))
            await take.ExecuteNonQueryAsync();
        await ReloadRig.WaitUntilAsync(db, "the reload waits at the gate, its snapshot taken",
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'cdc_registry.operations'::regclass AND NOT granted)", TimeSpan.FromMinutes(1));
        await ReloadRig.ExecAsync(db, Rewrite);
        await gateTx.CommitAsync();

        var ops = await ReloadRig.WaitForOperationsAsync(db, pipeline.Options.Source.Slot, 1, TimeSpan.FromMinutes(2));
        var op = ops.Single(o => o.Id == id);
        Assert.Equal(OperationRecord.Completed, op.State);
        Assert.Equal(Rows, op.Rows);
        Assert.Equal(2, op.Attempts);
        await pipeline.FlushAsync();
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ["wide"], expectReload: true);
    }

    [Fact]
    public async Task An_initial_load_table_rewritten_after_the_slot_snapshot_is_exported_under_a_fresh_snapshot_of_its_own()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("rewrite_initial");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Tables);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "initial"));
        options.Reload.InitialLoad = true;
        // No reload loop yet: the slot and its exported snapshot exist, and the initial load waits for a coordinator.
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: false);
        var slotLsn = (await new OperationStore(db).GetRecentAsync(options.Source.Slot, 10, default)).Select(o => o.ConsistentLsn).Distinct().Single();
        await ReloadRig.ExecAsync(db, Rewrite);

        using var stop = new CancellationTokenSource();
        var loop = pipeline.Get<ReloadLoop>().RunAsync(stop.Token);
        List<OperationRecord> ops;
        try
        {
            ops = await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 2, TimeSpan.FromMinutes(2));
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }

        var wide = ops.Single(o => o.Table.ToString() == "app.wide");
        var other = ops.Single(o => o.Table.ToString() == "app.other");
        Assert.All(ops, o => Assert.Equal(OperationRecord.Completed, o.State));
        Assert.Equal(Rows, wide.Rows);
        Assert.Equal(30, other.Rows);
        // The untouched table keeps the slot's snapshot; the rewritten one was exported again under a later one.
        Assert.Equal(slotLsn, other.ConsistentLsn);
        Assert.True(wide.ConsistentLsn > slotLsn, $"app.wide at {wide.ConsistentLsn}, the slot at {slotLsn}");
        await pipeline.FlushAsync();
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ["wide", "other"], expectReload: true);
    }
}
