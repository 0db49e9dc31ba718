using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Reload;

/// <summary>
/// First start on a database that already has data: the slot's snapshot is exported table by table (the 2M-row one in
/// parallel CTID ranges) while a writer keeps changing every table; afterwards each table's newest reload plus the
/// streaming files after it rebuild the table exactly, on both stores.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class InitialLoadTests(PostgresFixture pg, AzuriteFixture azurite, ITestOutputHelper output) : IDisposable, IClassFixture<AzuriteFixture>
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-initial-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public Task Initial_load_under_concurrent_writes_rebuilds_every_table_from_local_files() =>
        RunAsync("initial_local", _ => { });

    [Fact]
    public Task Initial_load_under_concurrent_writes_rebuilds_every_table_from_azure_blob_storage_on_azurite() =>
        RunAsync("initial_blob", options =>
        {
            options.Storage.Kind = StorageKind.AzureBlob;
            options.Storage.ConnectionString = azurite.Server.ConnectionString;
            options.Storage.Container = "initial-" + Guid.NewGuid().ToString("N")[..12];
        });

    private async Task RunAsync(string database, Action<PgEgressOptions> storage)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, Workload.Schema + ReloadRig.BigTable);
        await Workload.RunAsync(db);
        await ReloadRig.ExecAsync(db, ReloadRig.FillBig(2_000_000) + "; ANALYZE app.big");
        var bigBytes = await ReloadRig.ScalarAsync<long>(db, "SELECT pg_relation_size('app.big')");

        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Reload.InitialLoad = true;
        // app.big (~200 MB) splits into several ranges; the Workload tables stay whole.
        options.Reload.SplitAboveBytes = 16L << 20;
        options.Reload.RangeBytes = 48L << 20;
        storage(options);

        using var stop = new CancellationTokenSource();
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: true);
        var writer = ReloadRig.WriteUntilAsync(db, 0, big: true, stop.Token);
        // /api/status while app.big exports: its operation shows rows and bytes so far against the table's estimate.
        var status = pipeline.Get<StatusReader>();
        ExportStatus? seen = null;
        while (seen is null)
        {
            var report = await status.ReadAsync(default);
            var big0 = report.Operations.SingleOrDefault(o => o.Table.ToString() == "app.big");
            Assert.True(big0 is not null && big0.State != OperationRecord.Completed, "app.big finished before /api/status showed its progress");
            if (big0.Progress is { Rows: > 0 } p) seen = p;
            else await Task.Delay(50);
        }
        Assert.True(seen.Bytes > 0 && seen.EstimatedRows >= 1_900_000 && seen.Ranges > 1, $"progress: {seen}");
        var ops = await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, ReloadRig.AllTables(true).Count(), TimeSpan.FromMinutes(4));
        await stop.CancelAsync();
        var written = await writer;
        output.WriteLine($"app.big: {bigBytes / 1e6:0} MB on disk; {written} writer transaction(s) during the export");

        Assert.All(ops, o => Assert.Equal(OperationRecord.Completed, o.State));
        Assert.All(ops, o => Assert.Equal("initial_load", o.Kind));
        Assert.Single(ops.Select(o => o.ConsistentLsn).Distinct()); // one snapshot for every table
        var big = ops.Single(o => o.Table.ToString() == "app.big");
        Assert.True(big.Rows >= 2_000_000 - 1000, $"app.big exported {big.Rows} rows");
        Assert.True(written > 0, "the writer committed nothing during the export");

        await Churn.RunAsync(db, written, 5); // after the export: these flow straight through
        await pipeline.FlushAsync();
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ReloadRig.AllTables(true), expectReload: true);
        Assert.Equal("streaming", await ReloadRig.ScalarAsync<string>(db, "SELECT mode FROM cdc_registry.table_state WHERE table_name = 'app.big'"));
    }
}
