using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// A webhook endpoint down for a while: the source slot keeps being acknowledged (the staged log, not the source's
/// WAL, holds the sink's backlog), the batch files keep coming, and once the endpoint is back the sink catches up
/// with every event.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SinkOutageTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-outage-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task While_the_endpoint_is_down_the_slot_advances_files_keep_coming_and_the_sink_catches_up_afterwards()
    {
        var down = true;
        var ids = new ConcurrentDictionary<string, bool>();
        await using var receiver = await LoopbackReceiver.StartAsync(async http =>
        {
            if (Volatile.Read(ref down))
            {
                http.Response.StatusCode = 503;
                return;
            }
            using var reader = new StreamReader(http.Request.Body);
            var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement;
            foreach (var e in body.ValueKind == JsonValueKind.Array ? body.EnumerateArray().ToList() : [body])
                ids.TryAdd(e.GetProperty("id").GetString()!, true);
            http.Response.StatusCode = 204;
        });

        var cs = await pg.CreateUniqueDatabaseAsync("sink_outage");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TABLE app.events (id int PRIMARY KEY, payload text)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Sinks["down"] = new SinkOptions
        {
            Kind = SinkKind.Http, Url = receiver.Url, Workers = 2, BatchMaxEvents = 20,
            RetryDelay = TimeSpan.FromMilliseconds(50), MaxRetryDelay = TimeSpan.FromMilliseconds(500),
        };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        // ~25 MB of WAL while the endpoint answers 503 to everything.
        for (var t = 0; t < 50; t++)
            await WebhookSinkTests.Exec(db, $"INSERT INTO app.events SELECT g, repeat(md5(g::text), 12) FROM generate_series({t * 500 + 1}, {t * 500 + 500}) g");
        var written = await LsnAsync(db, "SELECT pg_current_wal_lsn()");
        var flush = await pipeline.FlushAsync();

        Assert.Contains(flush.Files, f => f.Table == "app.events" && f.Rows == 25_000);
        Assert.True(await LsnAsync(db, $"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{options.Source.Slot}'") >= written,
            "the slot was held back by the sink that is down");
        var status = (await pipeline.Get<StatusReader>().ReadAsync(default)).Sinks.Single();
        Assert.True(status.LagBytes > 20_000_000, $"the sink should be ~25 MB behind: {status}");
        Assert.True(status.Retried > 0 && status.Delivered == 0, $"{status}");
        Assert.Empty(ids);
        // The backlog is in the staged log: the flush kept every segment the sink still needs.
        var staged = await ScalarAsync(db, "SELECT count(*) FROM cdc_registry.segments");
        Assert.True(staged > 0, "the flush deleted segments the sink had not delivered");

        Volatile.Write(ref down, false);
        await WebhookSinkTests.Exec(db, "INSERT INTO app.events VALUES (999999, 'after the outage')");
        await pipeline.FlushAsync();
        var caughtUp = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "down");
        Assert.Equal(25_001, ids.Count);
        Assert.True(caughtUp.Delivered >= 25_001);
        // Delivered everywhere: the next flush may delete every segment.
        await pipeline.FlushAsync();
        var left = await ScalarAsync(db, "SELECT count(*) FROM cdc_registry.segments");
        await using (var dump = db.CreateCommand("SELECT string_agg(consumer || '=' || lsn, ', ') FROM cdc_registry.cursors UNION ALL SELECT string_agg(start_lsn || '-' || end_lsn, ', ') FROM cdc_registry.segments"))
        await using (var r = await dump.ExecuteReaderAsync())
        {
            var lines = new List<string>();
            while (await r.ReadAsync()) lines.Add(r.IsDBNull(0) ? "" : r.GetString(0));
            Assert.True(left == 0, string.Join(" / ", lines));
        }
    }

    private static async Task<ulong> LsnAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (ulong)(NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_redirect_is_not_followed_so_it_never_counts_as_delivered()
    {
        var gets = 0;
        await using var receiver = await LoopbackReceiver.StartAsync(http =>
        {
            if (HttpMethods.IsGet(http.Request.Method)) Interlocked.Increment(ref gets);
            else
            {
                http.Response.StatusCode = 302;
                http.Response.Headers.Location = "/moved";
            }
            return Task.CompletedTask;
        });
        var cs = await pg.CreateUniqueDatabaseAsync("sink_redirect");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TABLE app.events (id int PRIMARY KEY)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "redirect"));
        options.Sinks["moved"] = new SinkOptions { Kind = SinkKind.Http, Url = receiver.Url, MaxRetries = 1, RetryDelay = TimeSpan.FromMilliseconds(10) };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        await WebhookSinkTests.Exec(db, "INSERT INTO app.events VALUES (1)");
        await pipeline.FlushAsync();
        var status = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "moved");

        Assert.Equal((0L, 1L), (status.Delivered, status.DeadLettered));
        Assert.Equal(0, gets);
    }
}
