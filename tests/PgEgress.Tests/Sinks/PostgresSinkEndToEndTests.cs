using System.Text.Json;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Health;
using PgEgress.Core.Sinks;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Reload;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// PostgreSQL → PostgreSQL: the Workload (every type, no-key and REPLICA IDENTITY FULL tables, key changes, deletes,
/// truncates, a TOASTed column updated without change) and a concurrent writer, applied to a target database whose
/// tables the sink creates; afterwards every target table equals its source, also after the host was killed in the
/// middle of applying a large transaction.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresSinkEndToEndTests(PostgresFixture pg) : IDisposable
{
    private const int SigKillExitCode = 128 + 9;
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-pgsink-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>The target: the enum the Workload uses (a sink creates tables, not types).</summary>
    private async Task<string> TargetAsync(string name)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(name);
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy')");
        return cs;
    }

    [Fact]
    public async Task The_target_equals_the_source_after_a_concurrent_workload()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("pgsink_src");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, Workload.Schema);
        var target = await TargetAsync("pgsink_dst");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Sinks["mirror"] = new SinkOptions { Kind = SinkKind.Postgres, ConnectionString = target, CreateTables = true };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        using var stop = new CancellationTokenSource();
        var writer = ReloadRig.WriteUntilAsync(db, 0, big: false, stop.Token);
        await Workload.RunAsync(db);
        await Churn.RunAsync(db, 5000, 20);
        await stop.CancelAsync();
        Assert.True(await writer > 0);
        // The forced flush returns once everything committed is staged; then the sink has it all to apply.
        await pipeline.FlushAsync();
        var status = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "mirror");
        Assert.True(status.Delivered > 0);

        await AssertTablesEqualAsync(db, target);
    }

    [Fact]
    public async Task A_host_killed_while_applying_a_large_transaction_resumes_and_the_target_equals_the_source()
    {
        var target = await TargetAsync("pgsink_kill_dst");
        await using var rig = await DurabilityRig.CreateAsync(pg, "pgsink_kill");
        var sink = new Dictionary<string, string?>
        {
            ["PgEgress__Sinks__mirror__Kind"] = "Postgres",
            ["PgEgress__Sinks__mirror__ConnectionString"] = target,
            ["PgEgress__Sinks__mirror__CreateTables"] = "true",
        };
        await using (var host = await rig.StartHostAsync(crashAt: CrashPoint.SinkMidApply, extra: sink))
        {
            await Workload.RunAsync(rig.Db);
            // A 5,000-row transaction: the host kills itself after sending 1,000 of its rows to the target.
            await rig.ExecAsync("INSERT INTO app.accounts SELECT g, 'bulk ' || g, g FROM generate_series(100000, 104999) g");
            var code = await host.WaitExitAsync(TimeSpan.FromSeconds(90));
            Assert.True(code == SigKillExitCode, $"the host exited with {code}, not at {CrashPoint.SinkMidApply}: {host.StandardError}\n{DurabilityRig.Tail(host)}");
        }
        await using (var dst = NpgsqlDataSource.Create(target))
        await using (var cmd = dst.CreateCommand("SELECT count(*) FROM app.accounts WHERE id >= 100000"))
            Assert.Equal(0L, await cmd.ExecuteScalarAsync()); // the killed transaction left nothing behind

        await Churn.RunAsync(rig.Db, 0, 10);
        await using (var host = await rig.StartHostAsync(extra: sink))
        {
            await Churn.RunAsync(rig.Db, 10, 10);
            await DurabilityRig.FlushAsync(host);
            await WaitSinkCaughtUpAsync(host, "mirror");
        }
        await AssertTablesEqualAsync(rig.Db, target);
    }

    [Fact]
    public async Task A_table_the_target_cannot_take_is_set_aside_and_the_other_tables_keep_flowing()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("pgsink_aside_src");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, """
            CREATE SCHEMA app;
            CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
            CREATE TABLE app.good (id int PRIMARY KEY, v text);
            CREATE TABLE app.bad (id int PRIMARY KEY, m app.mood);
            """);
        // The target lacks the enum (a sink creates tables, not types): app.bad cannot be created there, app.good can.
        var target = await pg.CreateUniqueDatabaseAsync("pgsink_aside_dst");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "aside"));
        options.Sinks["mirror"] = new SinkOptions { Kind = SinkKind.Postgres, ConnectionString = target, CreateTables = true };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        await WebhookSinkTests.Exec(db, "INSERT INTO app.good VALUES (1, 'before')");
        await WebhookSinkTests.Exec(db, "INSERT INTO app.bad VALUES (1, 'ok'), (2, 'sad')");
        await WebhookSinkTests.Exec(db, "BEGIN; INSERT INTO app.good VALUES (2, 'with bad'); INSERT INTO app.bad VALUES (3, 'happy'); COMMIT");
        await WebhookSinkTests.Exec(db, "INSERT INTO app.good VALUES (3, 'after'); UPDATE app.good SET v = 'changed' WHERE id = 1");
        await pipeline.FlushAsync();
        var status = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "mirror");

        await using var dst = NpgsqlDataSource.Create(target);
        await using (var cmd = dst.CreateCommand("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM app.good"))
            Assert.Equal("1=changed,2=with bad,3=after", await cmd.ExecuteScalarAsync());
        await using (var cmd = dst.CreateCommand("SELECT to_regclass('app.bad') IS NULL"))
            Assert.Equal(true, await cmd.ExecuteScalarAsync());
        // Visible: the three skipped rows, the table's error, and a record of it in the dead-letter area.
        Assert.Equal(3, status.DeadLettered);
        Assert.Equal(4, status.Delivered);
        Assert.Contains("app.bad", status.LastError);
        Assert.Contains("app.mood", status.LastError);
        var letters = new List<string>();
        await foreach (var path in pipeline.Store.ListAsync(EventDelivery.DeadLetterPrefix("mirror"), default)) letters.Add(path);
        await using var stream = (await pipeline.Store.OpenReadAsync(Assert.Single(letters), default))!;
        var letter = (await JsonDocument.ParseAsync(stream)).RootElement;
        Assert.Equal("app.bad", letter.GetProperty("table").GetString());
        Assert.Contains("app.mood", letter.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_target_that_is_down_at_start_does_not_stop_the_pipeline_and_the_sink_says_why()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("pgsink_down_src");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TABLE app.good (id int PRIMARY KEY)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "down"));
        options.Sinks["mirror"] = new SinkOptions
        {
            Kind = SinkKind.Postgres, CreateTables = true,
            ConnectionString = $"Host=127.0.0.1;Port={HostProcess.HostSettings.ClosedLoopbackPort()};Database=mirror;Username=postgres;Timeout=2",
        };

        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        await WebhookSinkTests.Exec(db, "INSERT INTO app.good VALUES (1)");
        await pipeline.FlushAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        SinkStatus status;
        while ((status = (await pipeline.Get<StatusReader>().ReadAsync(default)).Sinks.Single(x => x.Name == "mirror")).LastError is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the sink reports nothing: {status}");
            await Task.Delay(50);
        }
        Assert.Equal(0, status.Delivered);
    }

    private static async Task WaitSinkCaughtUpAsync(HostProcess.HostProcess host, string sink)
    {
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };
        http.DefaultRequestHeaders.Add("x-functions-key", DurabilityRig.ApiKey);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement;
            var s = status.GetProperty("sinks").EnumerateArray().Single(x => x.GetProperty("name").GetString() == sink);
            if (s.GetProperty("lag_bytes").GetInt64() == 0 && s.GetProperty("cursor_lsn").GetString() == status.GetProperty("staged_lsn").GetString()) return;
            Assert.True(DateTime.UtcNow < deadline, $"sink {sink} not caught up: {s}");
            await Task.Delay(100);
        }
    }

    /// <summary>Every Workload table: the same rows (as text, duplicates counted) in source and target.</summary>
    private static async Task AssertTablesEqualAsync(NpgsqlDataSource source, string target)
    {
        await using var dst = NpgsqlDataSource.Create(target);
        foreach (var table in Workload.Tables)
        {
            var a = await RowsAsync(source, table);
            var b = await RowsAsync(dst, table);
            var missing = a.Except(b).Take(5).ToList();
            var extra = b.Except(a).Take(5).ToList();
            Assert.True(a.SequenceEqual(b), $"app.{table}: {a.Count} source row(s), {b.Count} target row(s); missing {string.Join(" | ", missing)}; extra {string.Join(" | ", extra)}");
        }
    }

    private static async Task<List<string>> RowsAsync(NpgsqlDataSource db, string table)
    {
        await using var cmd = db.CreateCommand($"SELECT t::text FROM app.{table} t ORDER BY 1");
        var rows = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) rows.Add(r.GetString(0));
        return rows;
    }
}
