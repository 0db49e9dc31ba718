using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Npgsql;
using PgEgress.Tests.HostProcess;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Sinks;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PgEgress.Tests.Health;

/// <summary>
/// The Host as a real process, against a server that checks passwords: a failure only an operator cures (the role's
/// password changed, a privilege revoked) turns /api/ready 503 with the component, SQLSTATE, message, since when and
/// attempts, and is cleared as soon as the operator's fix lets the component succeed, without a restart; a source that
/// is merely down for a moment is retried and never reported as permanent.
/// </summary>
public sealed class PermanentFailureReadinessTests(PasswordClusterFixture fixture, ITestOutputHelper output) : IClassFixture<PasswordClusterFixture>, IDisposable
{
    private const string Key = "permanent-key-3Vd8";
    private const string Password = "Pw-app-9Lk4-never-echo";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-permanent-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// A database with app.items owned by postgres, published by postgres, and a REPLICATION role that may read it and
    /// create PgEgress's registry, as a least-privilege deployment has it. Returns the role's connection string.
    /// </summary>
    private static async Task<(string ConnectionString, string Role)> LeastPrivilegeSourceAsync(PostgresCluster cluster, string prefix)
    {
        var database = $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 9)];
        var role = "app_" + Guid.NewGuid().ToString("N")[..10];
        await cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN REPLICATION PASSWORD '{Password}'");
        await cluster.CreateDatabaseAsync(database);
        await cluster.ExecuteAsync($"""
            GRANT CREATE ON DATABASE {database} TO {role};
            CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, note text);
            GRANT USAGE ON SCHEMA app TO {role}; GRANT SELECT ON app.items TO {role};
            CREATE PUBLICATION pgegress FOR TABLES IN SCHEMA app;
            """, database);
        var cs = new NpgsqlConnectionStringBuilder(cluster.ConnectionStringFor(database)) { Username = role, Password = Password }.ConnectionString;
        return (cs, role);
    }

    private async Task<(HostProcess.HostProcess Host, HttpClient Http)> StartHostAsync(string connectionString)
    {
        var settings = HostSettings.For(connectionString, _root, apiKey: Key);
        // The shortest pause a permanent failure may have, so that a fix shows within seconds.
        settings["PgEgress__Health__PermanentRetryMaxDelay"] = "00:00:05";
        var host = HostProcess.HostProcess.Start(settings);
        var http = new HttpClient { BaseAddress = new Uri(await host.WaitListeningAsync(Patience)), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("x-functions-key", Key);
        return (host, http);
    }

    private sealed record Ready(HttpStatusCode Status, Dictionary<string, (bool Ok, string Detail)> Checks, string Body);

    private static async Task<Ready> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/ready");
        var body = await response.Content.ReadAsStringAsync();
        var checks = JsonDocument.Parse(body).RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => (c.GetProperty("ok").GetBoolean(), c.GetProperty("detail").GetString()!));
        return new Ready(response.StatusCode, checks, body);
    }

    /// <summary>Polls /api/ready until <paramref name="done"/>; every answer on the way goes to <paramref name="seen"/>.</summary>
    private static async Task<Ready> ReadyUntilAsync(HttpClient http, Func<Ready, bool> done, string what, List<Ready>? seen = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        Ready? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await ReadyAsync(http);
            seen?.Add(last);
            if (done(last)) return last;
            await Task.Delay(100);
        }
        throw new XunitException($"not within {Patience}: {what}; last /api/ready: {last?.Body}");
    }

    /// <summary>The attempts the errors check counts for the ingest's refused login; 0 while it shows none.</summary>
    private static int IngestRefusals(Ready ready)
    {
        var match = System.Text.RegularExpressions.Regex.Match(ready.Checks["errors"].Detail, @"ingest: permanent \(SQLSTATE 28P01\) since [^,]+, (\d+) attempt");
        return match.Success ? int.Parse(match.Groups[1].Value) : 0;
    }

    private static int PermanentLogLines(HostProcess.HostProcess host) => host.LogRecords()
        .Count(r => r.TryGetProperty("Message", out var m) && m.GetString()!.Contains("failed permanently", StringComparison.Ordinal));

    [Fact]
    public async Task A_changed_password_turns_ready_503_naming_authentication_refused_and_the_old_password_back_clears_it()
    {
        var (cs, role) = await LeastPrivilegeSourceAsync(fixture.Cluster, "pf_login");
        var (host, http) = await StartHostAsync(cs);
        await using var _ = host;
        using var __ = http;
        await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready at start");

        // The password is rotated and the role's sessions end: every new login is refused.
        await fixture.Cluster.ExecuteAsync($"ALTER ROLE {role} PASSWORD 'rotated-elsewhere'; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'");

        var refused = await ReadyUntilAsync(http, r => IngestRefusals(r) >= 1, "the ingest's refused login as a permanent error");
        output.WriteLine(refused.Body);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.False(refused.Checks["errors"].Ok);
        Assert.Contains($"password authentication failed for user \"{role}\"", refused.Checks["errors"].Detail);
        Assert.DoesNotContain(Password, refused.Body);
        using (var status = await http.GetAsync("/api/status"))
        {
            // Status needs the source, which refuses this process too: 503 with the reason, not a 500.
            var problem = await status.Content.ReadAsStringAsync();
            Assert.True(status.StatusCode == HttpStatusCode.ServiceUnavailable, problem);
            Assert.Contains("password authentication failed", problem);
        }
        var again = await ReadyUntilAsync(http, r => IngestRefusals(r) > IngestRefusals(refused), "another refused attempt");
        output.WriteLine(again.Checks["errors"].Detail);
        // Logged once for both attempts, not once per attempt.
        Assert.Equal(1, PermanentLogLines(host));

        await fixture.Cluster.ExecuteAsync($"ALTER ROLE {role} PASSWORD '{Password}'");

        var back = await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready again once the password is right");
        Assert.Equal((true, "no component failing"), back.Checks["errors"]);
        Assert.False(host.HasExited);
    }

    [Fact]
    public async Task A_revoked_SELECT_turns_ready_503_naming_the_tables_reload_and_the_grant_back_clears_it_without_a_restart()
    {
        var (cs, role) = await LeastPrivilegeSourceAsync(fixture.Cluster, "pf_grant");
        var database = new NpgsqlConnectionStringBuilder(cs).Database!;
        var (host, http) = await StartHostAsync(cs);
        await using var _ = host;
        using var __ = http;
        await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready at start");

        await fixture.Cluster.ExecuteAsync($"REVOKE SELECT ON app.items FROM {role}", database);
        using (var reload = await http.PostAsync("/api/tables/app.items/reload", null))
            Assert.Equal(HttpStatusCode.Accepted, reload.StatusCode);

        var denied = await ReadyUntilAsync(http,
            r => r.Checks["errors"] is { Ok: false } e && e.Detail.Contains("reload:app.items: permanent (SQLSTATE 42501)", StringComparison.Ordinal),
            "the reload's missing privilege as a permanent error");
        output.WriteLine(denied.Body);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, denied.Status);
        Assert.Contains("permission denied for table items", denied.Checks["errors"].Detail);
        using (var status = await http.GetAsync("/api/status"))
        {
            var errors = JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement.GetProperty("errors").EnumerateArray().ToList();
            var reload = Assert.Single(errors, e => e.GetProperty("component").GetString() == "reload:app.items");
            Assert.Equal("permanent", reload.GetProperty("kind").GetString());
            Assert.Equal("42501", reload.GetProperty("sql_state").GetString());
            Assert.True(reload.GetProperty("attempts").GetInt32() >= 1);
            Assert.True(reload.GetProperty("since").GetDateTime() <= reload.GetProperty("last_at").GetDateTime());
        }

        await fixture.Cluster.ExecuteAsync($"GRANT SELECT ON app.items TO {role}", database);

        // The export's next attempt (10 s after the first) passes.
        var back = await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready again once the grant is back");
        Assert.Equal((true, "no component failing"), back.Checks["errors"]);
        Assert.False(host.HasExited);
    }

    [Fact]
    public async Task A_sink_answered_401_turns_ready_503_naming_the_sink_and_the_right_key_clears_it()
    {
        var status = StatusCodes.Status401Unauthorized;
        await using var receiver = await LoopbackReceiver.StartAsync(context =>
        {
            context.Response.StatusCode = Volatile.Read(ref status);
            return Task.CompletedTask;
        });
        var (cs, _) = await LeastPrivilegeSourceAsync(fixture.Cluster, "pf_sink");
        var settings = HostSettings.For(cs, _root, apiKey: Key);
        settings["PgEgress__Health__PermanentRetryMaxDelay"] = "00:00:05";
        settings["PgEgress__Sinks__hook__Kind"] = "Http";
        settings["PgEgress__Sinks__hook__Url"] = receiver.Url + "/hook";
        settings["PgEgress__Sinks__hook__RetryDelay"] = "00:00:00.050";
        settings["PgEgress__Sinks__hook__MaxRetryDelay"] = "00:00:00.200";
        await using var host = HostProcess.HostProcess.Start(settings);
        using var http = new HttpClient { BaseAddress = new Uri(await host.WaitListeningAsync(Patience)), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("x-functions-key", Key);
        await fixture.Cluster.ExecuteAsync("INSERT INTO app.items VALUES (1, 'one')", new NpgsqlConnectionStringBuilder(cs).Database);

        var refused = await ReadyUntilAsync(http,
            r => r.Checks["errors"] is { Ok: false } e && e.Detail.Contains("sink:hook: permanent since", StringComparison.Ordinal),
            "the sink's 401 as a permanent error");
        output.WriteLine(refused.Body);
        Assert.Contains("HTTP 401", refused.Checks["errors"].Detail);

        // The endpoint takes the key now (as after fixing PgEgress__Sinks__hook__Headers): the next attempt, within 5 s, delivers.
        Volatile.Write(ref status, StatusCodes.Status200OK);
        await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready again once the endpoint takes the events");
        using var answer = await http.GetAsync("/api/status");
        var sink = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("sinks").EnumerateArray().Single();
        Assert.Equal(1, sink.GetProperty("delivered").GetInt64());
        Assert.Equal("permanent", sink.GetProperty("last_error_kind").GetString());
    }

    [Fact]
    public async Task A_source_stopped_for_a_moment_is_retried_as_transient_and_never_reported_permanent()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false, PasswordLogins = true });
        var (cs, _) = await LeastPrivilegeSourceAsync(cluster, "pf_down");
        var (host, http) = await StartHostAsync(cs);
        await using var __ = host;
        using var ___ = http;
        var seen = new List<Ready>();
        await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready at start", seen);

        await cluster.StopAsync(immediate: true);
        var down = await ReadyUntilAsync(http,
            r => r.Checks["errors"].Detail.Contains("ingest: transient", StringComparison.Ordinal) && r.Checks["errors"].Detail.Contains("2 attempt(s)", StringComparison.Ordinal),
            "the ingest's failures while the source is down, as transient", seen);
        output.WriteLine(down.Body);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
        Assert.False(down.Checks["source"].Ok);
        Assert.True(down.Checks["errors"].Ok, "a transient failure alone does not fail the errors check");
        await cluster.StartAsync();

        await ReadyUntilAsync(http, r => r.Status == HttpStatusCode.OK, "ready again after the restart", seen);
        var permanent = seen.Where(r => r.Checks["errors"].Detail.Contains(": permanent", StringComparison.Ordinal)).Select(r => r.Body).ToList();
        Assert.True(permanent.Count == 0, $"{permanent.Count} of {seen.Count} answers reported a permanent failure: {permanent.FirstOrDefault()}");
        Assert.Equal(0, PermanentLogLines(host));
    }
}
