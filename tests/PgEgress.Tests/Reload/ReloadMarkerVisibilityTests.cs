using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Testing;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// Logical decoding can hand the consumer a commit before other sessions see it: with a synchronous standby that never
/// answers, the request's commit is in the WAL (and decoded) but held invisible. The reload must not be lost for it.
/// </summary>
public sealed class ReloadMarkerVisibilityTests : IDisposable
{
    private const int Rows = 500;
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-marker-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_reload_marker_decoded_before_its_request_is_visible_still_completes_the_reload()
    {
        // A cluster of its own: the test reconfigures it.
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false });
        var cs = await cluster.CreateDatabaseAsync("marker_visibility");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, $"""
            CREATE SCHEMA app;
            CREATE TABLE app.items (id int PRIMARY KEY, v text);
            INSERT INTO app.items SELECT g, 'v' || g FROM generate_series(1, {Rows}) g;
            CREATE TABLE public.probe (n int);
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: true);

        await cluster.ExecuteAsync("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
        await cluster.ExecuteAsync("SELECT pg_reload_conf()");
        var hanging = new List<(NpgsqlConnection Conn, Task Commit)>();
        try
        {
            // The checkpointer puts the setting in force on its own time: a commit stuck waiting for the standby shows it
            // is. Only a transaction that wrote WAL waits (an unpublished table's row).
            while (true)
            {
                var probe = await db.OpenConnectionAsync();
                var commit = new NpgsqlCommand("INSERT INTO public.probe VALUES (1)", probe).ExecuteNonQueryAsync();
                if (await WaitsForStandbyAsync(db, probe.ProcessID, commit))
                {
                    hanging.Add((probe, commit));
                    break;
                }
                await probe.DisposeAsync();
            }

            var requester = await db.OpenConnectionAsync();
            var request = new NpgsqlCommand("SELECT cdc_registry.request_reload('app.items'::regclass)", requester).ExecuteScalarAsync();
            hanging.Add((requester, request));
            Assert.True(await WaitsForStandbyAsync(db, requester.ProcessID, request), "the request committed without waiting for the standby");

            // The consumer has decoded the request and is registering its marker: waiting for the standby itself (its own
            // commit) or for the request's transaction.
            var others = string.Join(", ", hanging.Select(h => h.Conn.ProcessID));
            await ReloadRig.WaitUntilAsync(db, "the consumer registers the marker", $"""
                SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid NOT IN ({others})
                    AND wait_event IN ('SyncRep', 'transactionid') AND (query ILIKE '%cdc_registry.operations%' OR query ILIKE 'COMMIT%'))
                """, TimeSpan.FromMinutes(1));
        }
        finally
        {
            await cluster.ExecuteAsync("ALTER SYSTEM RESET synchronous_standby_names");
            await cluster.ExecuteAsync("SELECT pg_reload_conf()");
        }
        foreach (var (_, commit) in hanging) await commit;
        foreach (var (conn, _) in hanging) await conn.DisposeAsync();

        var op = Assert.Single(await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 1, TimeSpan.FromMinutes(1)));
        Assert.Equal(OperationRecord.Completed, op.State);
        Assert.Equal(Rows, op.Rows);
        await pipeline.FlushAsync();
        await ReloadRig.AssertRebuildsAsync(db, pipeline.Store, ["items"], expectReload: true);
        // A later request is a new operation, not the old one answered again.
        var next = await ReloadRig.ScalarAsync<long>(db, "SELECT cdc_registry.request_reload('app.items'::regclass)");
        Assert.NotEqual(op.Id, next);
    }

    /// <summary>True once the backend waits for the standby; false when its commit finished first (the setting not yet in force).</summary>
    private static async Task<bool> WaitsForStandbyAsync(NpgsqlDataSource db, int pid, Task commit)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!commit.IsCompleted)
        {
            if (await ReloadRig.ScalarAsync<bool>(db, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'SyncRep')", pid))
                return true;
            if (DateTime.UtcNow > deadline) Assert.Fail($"backend {pid} neither committed nor waited for the standby");
            await Task.Delay(50);
        }
        await commit;
        return false;
    }
}
