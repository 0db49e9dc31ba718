using System.Net;
using System.Text.Json;
using Npgsql;
using PgEgress.Tests.Fixtures;
using Xunit.Sdk;

namespace PgEgress.Tests.HostProcess;

/// <summary>Stopping a running host as a container runtime does, and what the host leaves in its logs over its life.</summary>
[Collection(PostgresCollection.Name)]
public sealed class HostLifecycleTests(PostgresFixture pg) : IDisposable
{
    private const string Key = "lifecycle-Key-7Rw2";
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30); // Program.cs: HostOptions.ShutdownTimeout

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-hostlife-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<(string ConnectionString, NpgsqlDataSource Db)> NewDatabaseAsync(string prefix)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(prefix);
        var db = NpgsqlDataSource.Create(cs);
        await using var cmd = db.CreateCommand("CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, note text)");
        await cmd.ExecuteNonQueryAsync();
        return (cs, db);
    }

    private static async Task<bool?> SlotActiveAsync(NpgsqlDataSource db, string slot)
    {
        await using var cmd = db.CreateCommand("SELECT active FROM pg_replication_slots WHERE slot_name = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = slot });
        return (bool?)await cmd.ExecuteScalarAsync();
    }

    private static async Task PollAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new XunitException($"not within {timeout}: {describe()}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task SIGTERM_exits_0_within_the_shutdown_timeout_and_releases_the_slot()
    {
        var (cs, db) = await NewDatabaseAsync("hp_sigterm");
        await using var _ = db;
        var settings = HostSettings.For(cs, Path.Combine(_root, "sigterm"), apiKey: Key);
        var slot = settings["PgEgress__Source__Slot"]!;
        await using var host = HostProcess.Start(settings);
        using var http = new HttpClient { BaseAddress = new Uri(await host.WaitListeningAsync(TimeSpan.FromSeconds(60))) };
        http.DefaultRequestHeaders.Add("x-functions-key", Key);

        // Streaming, with staged data: the slot is held by the running walsender.
        await using (var insert = db.CreateCommand("INSERT INTO app.items SELECT g, 'n' || g FROM generate_series(1, 20) g"))
            await insert.ExecuteNonQueryAsync();
        string? staged = null;
        await PollAsync(async () =>
        {
            using var status = await http.GetAsync("/api/status");
            var body = JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement;
            staged = body.GetProperty("staged_lsn").GetString();
            return status.StatusCode == HttpStatusCode.OK && staged != "0/0" && body.GetProperty("slot").GetProperty("active").GetBoolean();
        }, TimeSpan.FromSeconds(30), () => $"staged_lsn {staged}; stderr: {host.StandardError}");
        Assert.True(await SlotActiveAsync(db, slot));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        int code;
        try
        {
            code = await host.TerminateAsync(ShutdownTimeout + TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
            throw new XunitException($"the host did not exit within {ShutdownTimeout} + 5 s of SIGTERM; last logs:\n{string.Join("\n", host.StandardOutput.TakeLast(10))}");
        }

        Assert.True(code == 0, $"exit code {code} after SIGTERM; stderr: {host.StandardError}");
        Assert.True(clock.Elapsed < ShutdownTimeout, $"took {clock.Elapsed} to stop");
        // stderr is for the one fatal line only; a clean stop writes nothing there.
        Assert.True(host.StandardError.Length == 0, $"a clean stop wrote to stderr:\n{host.StandardError}");
        // The walsender lets go of the slot a moment after the client disconnects.
        await PollAsync(async () => await SlotActiveAsync(db, slot) == false, TimeSpan.FromSeconds(10), () => "the slot is still active");
    }

    [Fact]
    public async Task The_api_key_sent_as_code_never_reaches_the_logs()
    {
        var (cs, db) = await NewDatabaseAsync("hp_keylog");
        await using var _ = db;
        var wrong = "Wrong-Guess-Zz81";
        var settings = HostSettings.For(cs, Path.Combine(_root, "keylog"), apiKey: Key);
        // As an operator turns logging up to troubleshoot: ASP.NET Core then logs every request line, query string included.
        settings["Logging__LogLevel__Default"] = "Debug";
        settings["Logging__LogLevel__Microsoft.AspNetCore"] = "Debug";
        await using var host = HostProcess.Start(settings);
        using var http = new HttpClient { BaseAddress = new Uri(await host.WaitListeningAsync(TimeSpan.FromSeconds(60))) };

        using (var ok = await http.GetAsync($"/api/status?code={Key}")) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var refused = await http.GetAsync($"/api/ready?code={wrong}")) Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using (var flushed = await http.PostAsync($"/api/flush?code={Key}", null)) Assert.Equal(HttpStatusCode.OK, flushed.StatusCode);
        // Exiting drains the logger, so every line the requests produced has been read.
        Assert.Equal(0, await host.TerminateAsync(ShutdownTimeout + TimeSpan.FromSeconds(5)));

        var leaks = host.StandardOutput.Concat(host.StandardError.Split('\n'))
            .Where(l => l.Contains(Key, StringComparison.Ordinal) || l.Contains(wrong, StringComparison.Ordinal))
            .ToList();
        Assert.True(leaks.Count == 0, "a key reached the logs:\n" + string.Join("\n", leaks));
    }
}
