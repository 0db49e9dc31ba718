using Npgsql;
using PgEgress.Testing;

namespace PgEgress.Tests.Fixtures;

/// <summary>The shared cluster the integration tests use.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresClusterSharedTests(PostgresFixture fixture)
{
    [Fact]
    public async Task Shared_cluster_has_wal_level_logical_and_accepts_a_pgoutput_slot()
    {
        var connectionString = await fixture.CreateUniqueDatabaseAsync("fixture_slot");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var slot = $"fixture_probe_{Guid.NewGuid():N}";

        Assert.Equal("logical", await ScalarAsync<string>(connection, "SHOW wal_level"));
        Assert.Equal(slot, await ScalarAsync<string>(connection, $"SELECT slot_name FROM pg_create_logical_replication_slot('{slot}', 'pgoutput')"));
        Assert.Equal("pgoutput", await ScalarAsync<string>(connection, $"SELECT plugin FROM pg_replication_slots WHERE slot_name = '{slot}'"));
        await ScalarAsync<object>(connection, $"SELECT pg_drop_replication_slot('{slot}')");
    }

    [Fact]
    public async Task CreateDatabaseAsync_returns_a_connection_string_to_the_new_database_and_ExecuteAsync_targets_it()
    {
        var connectionString = await fixture.CreateUniqueDatabaseAsync("fixture_db");
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;

        await fixture.Cluster.ExecuteAsync("CREATE TABLE probe (id int PRIMARY KEY); INSERT INTO probe VALUES (1), (2);", database);

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        Assert.Equal(database, await ScalarAsync<string>(connection, "SELECT current_database()"));
        Assert.Equal(2L, await ScalarAsync<long>(connection, "SELECT count(*) FROM probe"));
    }

    internal static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}

/// <summary>Clusters of their own: these tests stop, restart, reconfigure or dispose the server.</summary>
public sealed class PostgresClusterLifecycleTests
{
    [Fact]
    public async Task A_cluster_started_with_wal_level_replica_reports_replica_and_applies_extra_settings()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
        {
            WalLevel = "replica",
            Settings = new Dictionary<string, string> { ["logical_decoding_work_mem"] = "'64kB'" },
            AllowExternalServer = false,
        });
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();

        Assert.Equal("replica", await PostgresClusterSharedTests.ScalarAsync<string>(connection, "SHOW wal_level"));
        Assert.Equal("64kB", await PostgresClusterSharedTests.ScalarAsync<string>(connection, "SHOW logical_decoding_work_mem"));
    }

    [Fact]
    public async Task Committed_data_survives_an_immediate_stop_and_a_restart_on_the_same_port()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false });
        var connectionString = await cluster.CreateDatabaseAsync("restart");
        await cluster.ExecuteAsync("CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept SELECT generate_series(1, 1000);", "restart");

        await cluster.StopAsync(immediate: true);
        await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
        {
            await using var down = new NpgsqlConnection(connectionString);
            await down.OpenAsync();
        });
        await cluster.StartAsync();

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        Assert.Equal(1000L, await PostgresClusterSharedTests.ScalarAsync<long>(connection, "SELECT count(*) FROM kept"));
        Assert.Contains("database system was not properly shut down", cluster.ReadLog());
    }

    [Fact]
    public async Task Dispose_stops_the_server_and_removes_its_directory()
    {
        var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false });
        var root = Path.GetDirectoryName(cluster.DataDir)!;
        Assert.True(File.Exists(Path.Combine(cluster.DataDir, "postmaster.pid")));

        await cluster.DisposeAsync();

        Assert.False(Directory.Exists(root));
        await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
        {
            await using var connection = new NpgsqlConnection(cluster.ConnectionString);
            await connection.OpenAsync();
        });
    }

    [Fact]
    public async Task A_server_that_cannot_start_fails_with_the_server_log_in_the_exception()
    {
        var failure = await Assert.ThrowsAsync<ProcessFailedException>(() => PostgresCluster.StartAsync(new PostgresClusterOptions
        {
            Settings = new Dictionary<string, string> { ["shared_buffers"] = "'not a size'" },
            AllowExternalServer = false,
        }));

        Assert.Contains("pg_ctl", failure.Result.CommandLine);
        Assert.Contains("invalid value for parameter \"shared_buffers\"", failure.Message);
    }

    [Fact]
    public async Task The_orphan_scan_deletes_old_clusters_whose_owner_is_gone_and_keeps_the_others()
    {
        var parent = Directory.CreateTempSubdirectory("pgegress-orphan-scan-").FullName;
        try
        {
            var old = DateTime.UtcNow - TimeSpan.FromHours(1);
            var orphan = FakeCluster(parent, "orphan", old);
            var live = FakeCluster(parent, "live", old);
            var young = FakeCluster(parent, "young", DateTime.UtcNow);
            // The owner of "live" holds its lock, as a running PostgresCluster does.
            await using (new FileStream(Path.Combine(live, "owner.lock"), FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                await PostgresCluster.DeleteOrphansAsync(parent, TimeSpan.FromMinutes(10));
            }

            Assert.False(Directory.Exists(orphan));
            Assert.True(Directory.Exists(live));
            Assert.True(Directory.Exists(young));
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
    }

    private static string FakeCluster(string parent, string name, DateTime lastWriteUtc)
    {
        var root = Directory.CreateDirectory(Path.Combine(parent, "pgegress-test-" + name)).FullName;
        File.WriteAllText(Path.Combine(root, "owner.lock"), "");
        Directory.SetLastWriteTimeUtc(root, lastWriteUtc);
        return root;
    }
}
