using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// Both initial-load snapshot policies against real PostgreSQL: the slot is created first, changes are committed
/// before any export starts (so a table's own snapshot is necessarily later than the slot's), then the exports run
/// while a writer keeps changing every table. The slot's consistent point is read from pg_replication_slots.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class InitialLoadSnapshotPolicyTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-snapshot-policy-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Under_the_slot_snapshot_every_table_is_at_the_slot_consistent_point_and_rebuilds_exactly()
    {
        var (slotLsn, ops) = await RunAsync("policy_slot", InitialLoadSnapshotPolicy.SlotSnapshot);
        Assert.All(ops, o => Assert.Equal(slotLsn, o.ConsistentLsn));
    }

    [Fact]
    public async Task Under_fresh_snapshots_each_table_is_after_the_slot_consistent_point_and_rebuilds_exactly()
    {
        var (slotLsn, ops) = await RunAsync("policy_fresh", InitialLoadSnapshotPolicy.FreshSnapshotPerTable);
        // Changes were committed after the slot and before any export: each table's own snapshot is past them.
        Assert.All(ops, o => Assert.True(o.ConsistentLsn > slotLsn, $"{o.Table}: consistent at {o.ConsistentLsn}, slot at {slotLsn}"));
        Assert.Equal(ops.Count, ops.Select(o => o.ConsistentLsn).Distinct().Count()); // one snapshot per table
        // Never started under the slot's snapshot: no attempt is spent before the table's own export.
        Assert.All(ops, o => Assert.Equal(1, o.Attempts));
    }

    private async Task<(ulong SlotLsn, List<OperationRecord> Ops)> RunAsync(string database, InitialLoadSnapshotPolicy policy)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Workload.Schema);
        await Workload.RunAsync(db);

        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, database));
        options.Reload.InitialLoad = true;
        await using var pipeline = await InProcessPipeline.StartAsync(options, ingest: false, reloads: false, initialLoad: policy);
        var slotLsn = (ulong)await ReloadRig.ScalarAsync<NpgsqlLogSequenceNumber>(db,
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", options.Source.Slot);
        await Churn.RunAsync(db, 0, 20);

        using var stop = new CancellationTokenSource();
        var writer = ReloadRig.WriteUntilAsync(db, 20, big: false, stop.Token);
        pipeline.StartIngest();
        pipeline.StartReloads();
        var ops = await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, Workload.Tables.Length, TimeSpan.FromMinutes(2));
        await stop.CancelAsync();
        var written = await writer;

        Assert.All(ops, o => Assert.Equal(OperationRecord.Completed, o.State));
        Assert.All(ops, o => Assert.Equal("initial_load", o.Kind));
        await Churn.RunAsync(db, 20 + written, 5);
        await pipeline.FlushAsync();
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, Workload.Tables, expectReload: true);
        return (slotLsn, ops);
    }
}
