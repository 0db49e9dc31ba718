using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Verification;

namespace PgEgress.Tests.Pipeline;

/// <summary>The issue's main proof: after a flush, every file loads with COPY and the rows rebuild every table exactly.</summary>
[Collection(PostgresCollection.Name)]
public sealed class StreamingEndToEndTests(PostgresFixture pg, AzuriteFixture azurite) : IDisposable, IClassFixture<AzuriteFixture>
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-e2e-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<(string ConnectionString, NpgsqlDataSource Db)> NewDatabaseAsync(string name)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(name);
        var db = NpgsqlDataSource.Create(cs);
        await using var cmd = db.CreateCommand(Workload.Schema);
        await cmd.ExecuteNonQueryAsync();
        return (cs, db);
    }

    [Fact]
    public Task Workload_rebuilds_every_table_exactly_from_local_files() =>
        RunWorkloadAndVerifyAsync("e2e_local", options => options.Storage.Path = Path.Combine(_root, "out"));

    [Fact]
    public Task Workload_rebuilds_every_table_exactly_from_azure_blob_storage_on_azurite() =>
        RunWorkloadAndVerifyAsync("e2e_blob", options =>
        {
            options.Storage.Kind = StorageKind.AzureBlob;
            options.Storage.ConnectionString = azurite.Server.ConnectionString;
            options.Storage.Container = "e2e-" + Guid.NewGuid().ToString("N")[..12];
        });

    private async Task RunWorkloadAndVerifyAsync(string database, Action<PgEgressOptions> storage)
    {
        var (cs, db) = await NewDatabaseAsync(database);
        await using var _ = db;
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        storage(options);
        await using var pipeline = await InProcessPipeline.StartAsync(options);

        await Workload.RunAsync(db);
        var flush = await pipeline.FlushAsync();
        Assert.NotEmpty(flush.Files);

        var verifier = new OutputVerifier(db, pipeline.Store);
        await VerifyAllAsync(verifier);
        var sink = await verifier.RebuildAsync("app", "kitchen_sink");
        Assert.True(sink.UnchangedToastRows > 0, "the untouched TOASTed column should be named in _unchanged_toast");
        var accounts = await verifier.RebuildAsync("app", "accounts");
        Assert.True(accounts.Ops.GetValueOrDefault('D') >= 7 && accounts.Ops.GetValueOrDefault('U') >= 2);
        var log = await verifier.RebuildAsync("app", "log_nopk");
        Assert.Equal(1, log.Ops.GetValueOrDefault('T'));

        await using var files = db.CreateCommand("SELECT count(*) FROM cdc_registry.file_log WHERE table_name = 'public.unpublished'");
        Assert.Equal(0L, await files.ExecuteScalarAsync());

        // A second flush continues from the cursor into a new batch, and the staged segments are gone once flushed.
        await Workload.RunAsync(db, Workload.SecondRound);
        var second = await pipeline.FlushAsync();
        Assert.NotEqual(flush.Batch, second.Batch);
        Assert.Equal(flush.ToLsn, second.FromLsn);
        await VerifyAllAsync(verifier);
        await using var segments = db.CreateCommand("SELECT count(*) FROM cdc_registry.segments");
        Assert.Equal(0L, await segments.ExecuteScalarAsync());
        await foreach (var path in pipeline.Store.ListAsync("_staging/", default))
            Assert.Fail($"staged segment {path} was not deleted after the flush");
    }

    private static async Task VerifyAllAsync(OutputVerifier verifier)
    {
        foreach (var table in Workload.Tables)
        {
            var rebuild = await verifier.RebuildAsync("app", table);
            Assert.True(rebuild.Files > 0, $"{table}: no file");
            Assert.True(rebuild.Differences.Count == 0, $"{table}:\n{string.Join("\n", rebuild.Differences)}");
            Assert.Empty(rebuild.DuplicatePositions);
        }
    }
}
