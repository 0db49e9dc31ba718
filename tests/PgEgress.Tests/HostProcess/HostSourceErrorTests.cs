using Npgsql;
using PgEgress.Testing;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// A source that cannot serve PgEgress stops the host at startup with one line saying what is wrong and how to fix
/// it, and exit code 1; a configuration mistake found only then (the store) leaves nothing behind on the source.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HostSourceErrorTests(PostgresFixture pg) : IDisposable
{
    private const string Secret = "Pw-4hT8s-never-echo";
    private static readonly TimeSpan ExitWithin = TimeSpan.FromSeconds(20);

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-hostsrc-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<string> NewDatabaseAsync(string prefix)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(prefix);
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, note text)", conn);
        await cmd.ExecuteNonQueryAsync();
        return cs;
    }

    private static string As(string connectionString, string user, string password) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Username = user, Password = password }.ConnectionString;

    private static async Task<T?> ScalarAsync<T>(string connectionString, string sql, params object[] args)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        return (T?)await cmd.ExecuteScalarAsync();
    }

    private async Task AssertNothingCreatedAsync(string cs, string slot)
    {
        Assert.Equal(0L, await ScalarAsync<long>(cs, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot));
        Assert.Equal(0L, await ScalarAsync<long>(cs, "SELECT count(*) FROM pg_publication"));
    }

    [Fact]
    public async Task A_source_with_wal_level_replica_is_one_line_asking_for_logical()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { WalLevel = "replica", AllowExternalServer = false });
        var settings = HostSettings.For(As(cluster.ConnectionString, "postgres", Secret), _root);

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "wal_level=replica", ["wal_level=replica", "wal_level=logical", "restart"]);
        failure.AssertNotEchoed(Secret);
    }

    [Fact]
    public async Task A_role_without_REPLICATION_is_one_line_naming_the_role_and_the_fix()
    {
        var cs = await NewDatabaseAsync("hp_norepl");
        var role = "hp_norepl_" + Guid.NewGuid().ToString("N")[..8];
        await pg.Cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD '{Secret}'");
        try
        {
            var settings = HostSettings.For(As(cs, role, Secret), _root);

            var failure = await HostFailure.RunAsync(settings, ExitWithin);

            failure.AssertOneLine(1, "startup error", "role without REPLICATION",
                [$"'{role}'", "REPLICATION privilege", $"ALTER ROLE \"{role}\" REPLICATION"]);
            failure.AssertNotEchoed(Secret);
            await AssertNothingCreatedAsync(cs, settings["PgEgress__Source__Slot"]!);
        }
        finally
        {
            await pg.Cluster.ExecuteAsync($"DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_replication_role_that_cannot_create_the_registry_schema_is_one_line_not_a_stack_trace()
    {
        var cs = await NewDatabaseAsync("hp_nocreate");
        var role = "hp_nocreate_" + Guid.NewGuid().ToString("N")[..8];
        await pg.Cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN REPLICATION PASSWORD '{Secret}'");
        try
        {
            var settings = HostSettings.For(As(cs, role, Secret), _root);

            var failure = await HostFailure.RunAsync(settings, ExitWithin);

            failure.AssertOneLine(1, "startup error", "no CREATE on the database", ["cdc_registry", "permission denied", "GRANT CREATE ON DATABASE"]);
            failure.AssertNotEchoed(Secret);
            await AssertNothingCreatedAsync(cs, settings["PgEgress__Source__Slot"]!);
        }
        finally
        {
            await pg.Cluster.ExecuteAsync($"DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_source_out_of_replication_slots_is_one_line_with_postgresqls_hint()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
        {
            AllowExternalServer = false,
            Settings = new Dictionary<string, string> { ["max_replication_slots"] = "1" },
        });
        await cluster.ExecuteAsync("CREATE SCHEMA app");
        await cluster.ExecuteAsync("SELECT pg_create_logical_replication_slot('leftover', 'pgoutput')");
        var settings = HostSettings.For(As(cluster.ConnectionString, "postgres", Secret), _root);

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "max_replication_slots exhausted",
            [$"'{settings["PgEgress__Source__Slot"]}'", "all replication slots are in use", "max_replication_slots"]);
        failure.AssertNotEchoed(Secret);
    }

    [Fact]
    public async Task A_publication_for_all_tables_is_refused_in_one_line()
    {
        var cs = await NewDatabaseAsync("hp_alltables");
        await ScalarAsync<object>(cs, "CREATE PUBLICATION everything FOR ALL TABLES");
        var settings = HostSettings.For(As(cs, "postgres", Secret), _root);
        settings["PgEgress__Source__Publication"] = "everything";

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "FOR ALL TABLES", ["'everything'", "FOR ALL TABLES", "cdc_registry"]);
        failure.AssertNotEchoed(Secret);
        Assert.Equal(0L, await ScalarAsync<long>(cs, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", settings["PgEgress__Source__Slot"]!));
    }

    [Fact]
    public async Task A_missing_database_is_one_line_naming_it()
    {
        var cs = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Database = "hp_no_such_db", Password = Secret }.ConnectionString;
        var settings = HostSettings.For(cs, _root);

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "missing database", ["hp_no_such_db", "does not exist"]);
        failure.AssertNotEchoed(Secret);
    }

    [Fact]
    public async Task AzureBlob_without_credentials_fails_before_creating_a_slot_on_a_reachable_source()
    {
        var cs = await NewDatabaseAsync("hp_azure_nocred");
        var settings = HostSettings.For(As(cs, "postgres", Secret), _root);
        settings["PgEgress__Storage__Kind"] = "AzureBlob";

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(2, "configuration error", "AzureBlob without credentials", ["Kind=AzureBlob", "PgEgress:Storage:ConnectionString"]);
        // A slot created for a host that can never run would hold WAL on the source until someone drops it.
        await AssertNothingCreatedAsync(cs, settings["PgEgress__Source__Slot"]!);
    }

    [Fact]
    public async Task An_unusable_store_folder_is_one_line_and_creates_no_slot()
    {
        var cs = await NewDatabaseAsync("hp_badstore");
        var blocker = Path.Combine(_root, "a-file");
        await File.WriteAllTextAsync(blocker, "not a folder");
        var settings = HostSettings.For(As(cs, "postgres", Secret), _root);
        settings["PgEgress__Storage__Path"] = Path.Combine(blocker, "out");

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "store under a file", ["store", blocker]);
        await AssertNothingCreatedAsync(cs, settings["PgEgress__Source__Slot"]!);
    }
}
