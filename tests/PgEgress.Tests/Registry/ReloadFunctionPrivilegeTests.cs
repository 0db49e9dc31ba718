using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Testing;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Reload;

namespace PgEgress.Tests.Registry;

/// <summary>
/// cdc_registry.request_reload is for operators, not PUBLIC: a role that can see the registry schema and read the
/// table still cannot ask for a reload until it is a member of pgegress_operator. An install by a role that cannot
/// create roles still migrates, and leaves the function to its owner.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReloadFunctionPrivilegeTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-reloadpriv-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task<object?> AsRoleAsync(string connectionString, string role, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SET ROLE {role}; {sql}", conn);
        return await cmd.ExecuteScalarAsync();
    }

    [Fact]
    public async Task Only_members_of_pgegress_operator_may_request_a_reload_in_SQL()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("reload_priv");
        await using var db = NpgsqlDataSource.Create(cs);
        var viewer = "viewer_" + Guid.NewGuid().ToString("N")[..8];
        await ReloadRig.ExecAsync(db, $"""
            CREATE SCHEMA app;
            CREATE TABLE app.t (id int PRIMARY KEY);
            CREATE ROLE {viewer} NOLOGIN;
            """);
        await using var pipeline = await InProcessPipeline.StartAsync(InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out")), ingest: false);
        // It may look at the registry (a monitoring role would) and read the table: neither lets it start reloads.
        await ReloadRig.ExecAsync(db, $"GRANT USAGE ON SCHEMA cdc_registry TO {viewer}; GRANT USAGE ON SCHEMA app TO {viewer}; GRANT SELECT ON app.t TO {viewer}");
        try
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => AsRoleAsync(cs, viewer, "SELECT cdc_registry.request_reload('app.t')"));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
            Assert.Contains("request_reload", refused.MessageText, StringComparison.Ordinal);

            await pg.Cluster.ExecuteAsync($"GRANT pgegress_operator TO {viewer}", new NpgsqlConnectionStringBuilder(cs).Database);

            Assert.IsType<long>(await AsRoleAsync(cs, viewer, "SELECT cdc_registry.request_reload('app.t')"));
        }
        finally
        {
            await ReloadRig.ExecAsync(db, $"DROP OWNED BY {viewer}; DROP ROLE {viewer}");
        }
    }

    [Fact]
    public async Task An_install_by_a_role_without_CREATEROLE_migrates_and_leaves_the_function_to_its_owner()
    {
        // Its own cluster: pgegress_operator is cluster-wide, and another test may have created it already.
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false });
        await cluster.ExecuteAsync("CREATE ROLE installer LOGIN REPLICATION NOCREATEROLE; CREATE ROLE someone NOLOGIN");
        await cluster.ExecuteAsync("CREATE DATABASE app OWNER installer");
        var cs = new NpgsqlConnectionStringBuilder(cluster.ConnectionStringFor("app")) { Username = "installer" }.ConnectionString;
        await using var db = NpgsqlDataSource.Create(cs);

        await RegistryMigrator.MigrateAsync(db, default);

        Assert.Equal(RegistryMigrations.All.Count, (int)await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.schema_migrations"));
        Assert.False(await ReloadRig.ScalarAsync<bool>(db, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgegress_operator')"));
        Assert.False(await ReloadRig.ScalarAsync<bool>(db, "SELECT has_function_privilege('someone', 'cdc_registry.request_reload(regclass, text)', 'EXECUTE')"));
        Assert.True(await ReloadRig.ScalarAsync<bool>(db, "SELECT has_function_privilege('installer', 'cdc_registry.request_reload(regclass, text)', 'EXECUTE')"));
    }
}
