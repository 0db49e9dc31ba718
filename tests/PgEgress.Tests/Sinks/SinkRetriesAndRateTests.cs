using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// Retries (the seeds' retry count for failures that may pass) and MaxRequestsPerSecond (a token bucket shared by the
/// sink's workers), against a real receiver on loopback that records what it is sent.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SinkRetriesAndRateTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-rate-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task With_Retries_an_event_the_endpoint_keeps_failing_with_503_is_dead_lettered_after_that_many_retries_and_delivery_goes_on()
    {
        var attempts = new ConcurrentDictionary<int, int>();
        await using var receiver = await LoopbackReceiver.StartAsync(async http =>
        {
            var data = (await JsonDocument.ParseAsync(http.Request.Body)).RootElement.GetProperty("data");
            var id = data.GetProperty("key").GetProperty("id").GetInt32();
            attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            http.Response.StatusCode = id == 3 ? 503 : 204;
        });
        await using var run = await StartAsync("sink_retries", new SinkOptions
        {
            Kind = SinkKind.Http, Url = receiver.Url + "/in", Retries = 2, Workers = 1,
            RetryDelay = TimeSpan.FromMilliseconds(10), MaxRetryDelay = TimeSpan.FromMilliseconds(20),
        });
        await run.InsertAsync(5);
        await run.WaitDeliveredAsync();

        Assert.Equal(3, attempts[3]); // the first attempt and 2 retries
        Assert.All(new[] { 1, 2, 4, 5 }, id => Assert.Equal(1, attempts[id]));
        var letters = await run.DeadLettersAsync();
        var letter = Assert.Single(letters);
        Assert.Equal(503, letter.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task MaxRequestsPerSecond_holds_across_workers_in_every_second()
    {
        const int Rate = 20, Events = 80;
        var arrivals = new ConcurrentQueue<TimeSpan>();
        var clock = Stopwatch.StartNew();
        await using var receiver = await LoopbackReceiver.StartAsync(http =>
        {
            arrivals.Enqueue(clock.Elapsed);
            http.Response.StatusCode = 204;
            return Task.CompletedTask;
        });
        await using var run = await StartAsync("sink_rate", new SinkOptions
        {
            Kind = SinkKind.Http, Url = receiver.Url + "/in", Workers = 8, MaxRequestsPerSecond = Rate,
        });
        await run.InsertAsync(Events);
        await run.WaitDeliveredAsync();

        var times = arrivals.Order().ToList();
        var busiest = times.Select((t, i) => times.Skip(i).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count()).Max();
        var span = times[^1] - times[0];
        output.WriteLine($"{times.Count} requests over {span.TotalSeconds:0.00} s; busiest second {busiest}");
        Assert.Equal(Events, times.Count);
        // The bucket sends at most the rate plus one in any second; the receiver sees arrival times that also carry each
        // request's network and scheduling delay (a busy machine bunches a few), so its bound is looser. Without the
        // limit all 80 arrive within a fraction of a second.
        Assert.True(busiest <= Rate * 3 / 2, $"{busiest} requests within one second at MaxRequestsPerSecond {Rate}");
        // On average the rate (the limiter's timer-driven refill may serve a late tick's waiters together: 10 % slack).
        Assert.True(span >= TimeSpan.FromSeconds(0.9 * (Events - 1.0) / Rate), $"{Events} requests took {span} at {Rate}/s");
    }

    private async Task<Run> StartAsync(string database, SinkOptions sink)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, note text)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, database));
        options.Sinks["hook"] = sink;
        return new Run(db, await InProcessPipeline.StartAsync(options, sinks: true));
    }

    private sealed class Run(NpgsqlDataSource db, InProcessPipeline pipeline) : IAsyncDisposable
    {
        public Task InsertAsync(int rows) => WebhookSinkTests.Exec(db, $"INSERT INTO app.items SELECT g, 'n' || g FROM generate_series(1, {rows}) g");

        /// <summary>Waits until the sink's cursor is at the staged end: every event delivered or dead-lettered.</summary>
        public async Task WaitDeliveredAsync()
        {
            await pipeline.FlushAsync();
            var registry = pipeline.Get<RegistryStore>();
            var slot = pipeline.Options.Source.Slot;
            var staged = await registry.GetStagedLsnAsync(slot, default);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (((await registry.GetCursorAsync(slot, SinkRunners.Consumer("hook"), default))?.Lsn ?? 0) < staged)
            {
                Assert.True(DateTime.UtcNow < deadline, "the sink did not get past the staged changes within 60 s");
                await Task.Delay(20);
            }
        }

        public async Task<List<JsonElement>> DeadLettersAsync()
        {
            var letters = new List<JsonElement>();
            // The dead-letter area as README documents it: _deadletter/{sink}/{event id}.json.
            await foreach (var path in pipeline.Store.ListAsync("_deadletter/hook/", default))
            {
                await using var stream = (await pipeline.Store.OpenReadAsync(path, default))!;
                letters.Add((await JsonDocument.ParseAsync(stream)).RootElement.Clone());
            }
            return letters;
        }

        public async ValueTask DisposeAsync()
        {
            await pipeline.DisposeAsync();
            await db.DisposeAsync();
        }
    }
}
