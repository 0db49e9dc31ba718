using System.Net;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Tests.HostProcess;
using PgEgress.Tests.Sinks;
using Xunit.Sdk;

namespace PgEgress.Tests.Pipeline;

/// <summary>
/// The classifier against the exceptions PostgreSQL, Npgsql and HttpClient really throw: each one provoked on a real
/// server (a cluster that checks passwords) or a real loopback socket, never constructed by the test.
/// </summary>
public sealed class FailureClassifierTests(PasswordClusterFixture fixture) : IClassFixture<PasswordClusterFixture>
{
    private const string Password = "Pw-classify-7hQ2";

    private PostgresCluster Cluster => fixture.Cluster;

    private async Task<string> NewRoleAsync(string extra = "")
    {
        var role = "cls_" + Guid.NewGuid().ToString("N")[..10];
        await Cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN {extra} PASSWORD '{Password}'");
        return role;
    }

    private string As(string role, string password, string database = "postgres") =>
        new NpgsqlConnectionStringBuilder(Cluster.ConnectionStringFor(database)) { Username = role, Password = password, Pooling = false }.ConnectionString;

    private static async Task<Exception> FailureOfAsync(string connectionString, string sql)
    {
        try
        {
            await using var conn = new NpgsqlConnection(connectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (Exception e)
        {
            return e;
        }
        throw new XunitException($"'{sql}' did not fail");
    }

    private static void AssertKind(FailureKind expected, string? sqlState, Exception e)
    {
        Assert.True(FailureClassifier.Classify(e) == expected, $"{e.GetType().Name} {FailureClassifier.SqlState(e)}: {e.Message} is not {expected}");
        Assert.Equal(sqlState, FailureClassifier.SqlState(e));
    }

    [Fact]
    public async Task A_wrong_password_is_permanent_28P01()
    {
        var role = await NewRoleAsync();

        var e = await FailureOfAsync(As(role, "not-the-password"), "SELECT 1");

        AssertKind(FailureKind.Permanent, "28P01", e);
        Assert.Contains("password authentication failed", e.Message);
    }

    [Fact]
    public async Task A_role_without_a_privilege_on_a_table_is_permanent_42501()
    {
        var role = await NewRoleAsync();
        var table = "cls_private_" + Guid.NewGuid().ToString("N")[..8];
        await Cluster.ExecuteAsync($"CREATE TABLE {table} (id int)");

        AssertKind(FailureKind.Permanent, "42501", await FailureOfAsync(As(role, Password), $"COPY {table} TO STDOUT"));
    }

    [Fact]
    public async Task A_dropped_table_a_missing_schema_and_a_missing_database_are_permanent()
    {
        var table = "cls_dropped_" + Guid.NewGuid().ToString("N")[..8];
        await Cluster.ExecuteAsync($"CREATE TABLE {table} (id int); DROP TABLE {table}");

        AssertKind(FailureKind.Permanent, "42P01", await FailureOfAsync(Cluster.ConnectionString, $"SELECT * FROM {table}"));
        AssertKind(FailureKind.Permanent, "3F000", await FailureOfAsync(Cluster.ConnectionString, "CREATE TABLE cls_no_such_schema.t (id int)"));
        AssertKind(FailureKind.Permanent, "3D000", await FailureOfAsync(As("postgres", "", "cls_no_such_database"), "SELECT 1"));
    }

    [Fact]
    public async Task A_missing_slot_or_publication_is_permanent_42704()
    {
        var name = "cls_gone_" + Guid.NewGuid().ToString("N")[..8];
        await using (var replication = new LogicalReplicationConnection(Cluster.ConnectionString))
        {
            await replication.Open();
            var missing = new PgOutputReplicationSlot(name);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var e = await Assert.ThrowsAsync<PostgresException>(async () =>
            {
                await foreach (var _ in replication.StartReplication(missing, new PgOutputReplicationOptions(name, PgOutputProtocolVersion.V1), timeout.Token)) break;
            });
            AssertKind(FailureKind.Permanent, "42704", e);
        }

        // pgoutput looks the publication up when it decodes the first change.
        await Cluster.ExecuteAsync($"CREATE TABLE {name} (id int PRIMARY KEY)");
        await Cluster.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{name}', 'pgoutput')");
        await Cluster.ExecuteAsync($"INSERT INTO {name} VALUES (1)");
        try
        {
            AssertKind(FailureKind.Permanent, "42704", await FailureOfAsync(Cluster.ConnectionString,
                $"SELECT count(*) FROM pg_logical_slot_peek_binary_changes('{name}', NULL, NULL, 'proto_version', '1', 'publication_names', '{name}')"));
        }
        finally
        {
            await Cluster.ExecuteAsync($"SELECT pg_drop_replication_slot('{name}')");
        }
    }

    [Fact]
    public async Task An_administrator_terminating_the_session_is_transient_57P01()
    {
        await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Cluster.ConnectionString) { Pooling = false }.ConnectionString);
        await conn.OpenAsync();
        var pid = conn.ProcessID;
        await using var sleep = new NpgsqlCommand("SELECT pg_sleep(30)", conn);
        var running = sleep.ExecuteNonQueryAsync();
        await Cluster.ExecuteAsync($"SELECT pg_terminate_backend({pid})");

        var e = await Assert.ThrowsAnyAsync<NpgsqlException>(() => running);

        AssertKind(FailureKind.Transient, "57P01", e);
    }

    [Fact]
    public async Task A_serialization_failure_is_transient_40001()
    {
        var table = "cls_counter_" + Guid.NewGuid().ToString("N")[..8];
        await Cluster.ExecuteAsync($"CREATE TABLE {table} (id int PRIMARY KEY, n int); INSERT INTO {table} VALUES (1, 0)");
        await using var first = new NpgsqlConnection(Cluster.ConnectionString);
        await first.OpenAsync();
        await using var tx = await first.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        await using (var read = new NpgsqlCommand($"SELECT n FROM {table}", first, tx)) await read.ExecuteScalarAsync();
        await Cluster.ExecuteAsync($"UPDATE {table} SET n = n + 1");

        await using var update = new NpgsqlCommand($"UPDATE {table} SET n = n + 1", first, tx);
        var e = await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync());

        AssertKind(FailureKind.Transient, "40001", e);
    }

    [Fact]
    public async Task A_slot_held_by_another_session_is_transient_55006()
    {
        var name = "cls_busy_" + Guid.NewGuid().ToString("N")[..8];
        await Cluster.ExecuteAsync($"CREATE PUBLICATION {name}");
        await using var replication = new LogicalReplicationConnection(Cluster.ConnectionString);
        await replication.Open();
        var slot = await replication.CreatePgOutputReplicationSlot(name, temporarySlot: true);
        using var stop = new CancellationTokenSource();
        var stream = replication.StartReplication(slot, new PgOutputReplicationOptions(name, PgOutputProtocolVersion.V1), stop.Token).GetAsyncEnumerator(stop.Token);
        var reading = stream.MoveNextAsync().AsTask();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        Exception? e = null;
        while (e is null)
        {
            // The walsender marks the slot active a moment after START_REPLICATION.
            var failure = await FailureOfAsync(Cluster.ConnectionString, $"SELECT pg_drop_replication_slot('{name}')");
            if (failure is PostgresException { SqlState: "55006" }) e = failure;
            else if (DateTime.UtcNow > deadline) throw new XunitException($"the slot never showed as in use: {failure.Message}");
            else await Task.Delay(50);
        }
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);

        AssertKind(FailureKind.Transient, "55006", e);
    }

    [Fact]
    public async Task A_refused_connection_and_a_command_timeout_are_transient()
    {
        var closed = new NpgsqlConnectionStringBuilder(Cluster.ConnectionString) { Port = HostSettings.ClosedLoopbackPort(), Timeout = 5 }.ConnectionString;
        AssertKind(FailureKind.Transient, null, await FailureOfAsync(closed, "SELECT 1"));

        var impatient = new NpgsqlConnectionStringBuilder(Cluster.ConnectionString) { CommandTimeout = 1 }.ConnectionString;
        var timeout = await FailureOfAsync(impatient, "SELECT pg_sleep(10)");
        Assert.IsType<TimeoutException>(timeout.InnerException);
        AssertKind(FailureKind.Transient, null, timeout);
    }

    [Fact]
    public async Task An_HTTP_endpoint_that_refuses_connections_is_transient()
    {
        using var http = new HttpClient();

        var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{HostSettings.ClosedLoopbackPort()}/"));

        AssertKind(FailureKind.Transient, null, e);
    }

    [Theory]
    [InlineData(401, FailureKind.Permanent)]
    [InlineData(403, FailureKind.Permanent)]
    [InlineData(408, FailureKind.Transient)]
    [InlineData(429, FailureKind.Transient)]
    [InlineData(500, FailureKind.Transient)]
    [InlineData(503, FailureKind.Transient)]
    public async Task An_HTTP_answer_is_permanent_only_for_401_and_403(int status, FailureKind expected)
    {
        await using var receiver = await LoopbackReceiver.StartAsync(context =>
        {
            context.Response.StatusCode = status;
            return Task.CompletedTask;
        });
        using var http = new HttpClient();
        using var response = await http.PostAsync(receiver.Url, new StringContent("{}"));
        Assert.Equal((HttpStatusCode)status, response.StatusCode);

        var e = Assert.Throws<HttpRequestException>(() => response.EnsureSuccessStatusCode());

        AssertKind(expected, null, e);
        Assert.Equal(expected, FailureClassifier.ForHttpStatus((int)response.StatusCode));
    }

    [Fact]
    public void A_configuration_mistake_and_a_setup_check_without_a_database_error_are_permanent_a_setup_that_cannot_reach_the_source_is_not()
    {
        AssertKind(FailureKind.Permanent, null, new ConfigurationException("Sink 'x': the target is the source"));
        AssertKind(FailureKind.Permanent, null, new PipelineSetupException("the source has wal_level=replica"));
        AssertKind(FailureKind.Transient, null, new PipelineSetupException("cannot reach the source", new TimeoutException()));
    }
}
