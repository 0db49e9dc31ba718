using System.Diagnostics;
using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Functions.Flush;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Tests.App;
using PgEgress.Functions.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Functions.Tests.Durable.AzureStorage;

/// <summary>
/// The app on the production Durable backend (DurableTask.AzureStorage on Azurite blob + queue + table) against a
/// real PostgreSQL: started over HTTP, it stages changes, the timer function flushes them into files, and a reload
/// requested over HTTP is exported by the reload orchestration.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class IngestOnAzureStorageTests(PostgresFixture pg, AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-fn-az-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Ingest_stages_the_timer_flushes_files_and_a_reload_requested_over_HTTP_completes()
    {
        var clock = Stopwatch.StartNew();
        var db = await pg.CreateUniqueDatabaseAsync("fn_az_ingest");
        await ExecuteAsync(db, "CREATE TABLE public.items (id int PRIMARY KEY, note text)");
        var outFolder = Path.Combine(_root, "out");
        await using var app = FunctionsAppHost.Build(PipelineSettings.For(db, "public.items", _root));
        await using var hub = await AzureStorageTaskHub.StartAsync(azurite.Server, app.Services, PipelineSettings.TaskHub());
        output.WriteLine($"task hub created in {hub.Created.TotalSeconds:0.00} s");

        var started = await app.SendAsync("POST", "ingest/start", hub.Client);
        Assert.True(started.StatusCode == 202, $"ingest/start: {started.StatusCode} {started.Body}");
        var second = await app.SendAsync("POST", "ingest/start", hub.Client);
        Assert.True(second.StatusCode == 200, $"a second ingest/start: {second.StatusCode} {second.Body}");

        // Changes stream from the slot the first generation creates (no initial load here): wait for it.
        await WaitForStateAsync(app, hub, state => state.GetProperty("prepared").GetBoolean(), "the source prepared");
        output.WriteLine($"source prepared at {clock.Elapsed.TotalSeconds:0.0} s");
        await ExecuteAsync(db, "INSERT INTO public.items SELECT g, 'first ' || g FROM generate_series(1, 100) g");
        await WaitForChangesAsync(app, hub, 100);
        output.WriteLine($"100 changes staged at {clock.Elapsed.TotalSeconds:0.0} s");

        // FlushTimer as its trigger calls it: the first tick of a window cuts everything staged.
        var boundary = await RunFlushTimerAsync(app);
        var first = Assert.Single(StreamingFiles(outFolder));
        Assert.StartsWith(Path.Combine(outFolder, "public.items") + Path.DirectorySeparatorChar, first, StringComparison.Ordinal);
        var rows = GzipCsv.Read(first);
        Assert.Equal(Enumerable.Range(1, 100), Ids(rows));
        Assert.All(rows, r => Assert.Equal("I", r["_op"]));
        Assert.Equal("first 7", rows.Single(r => r["id"] == "7")["note"]);
        output.WriteLine($"timer flush wrote {first} at {clock.Elapsed.TotalSeconds:0.0} s");

        // A later tick in the same window cuts nothing (its boundary is cut already): one flush per window, not one
        // per tick. POST flush cuts at once.
        await ExecuteAsync(db, "INSERT INTO public.items SELECT g, 'second ' || g FROM generate_series(101, 150) g");
        await WaitForChangesAsync(app, hub, 150);
        var nextBoundary = await RunFlushTimerAsync(app);
        if (nextBoundary == boundary)
            Assert.Single(StreamingFiles(outFolder));
        else
            Assert.Equal(2, StreamingFiles(outFolder).Count); // the test crossed a window boundary: that tick had a window to cut
        var forced = await app.SendAsync("POST", "flush");
        Assert.True(forced.StatusCode == 200, $"flush: {forced.StatusCode} {forced.Body}");
        var later = StreamingFiles(outFolder).Except([first]).ToList();
        Assert.Equal(Enumerable.Range(101, 50), Ids(later.SelectMany(GzipCsv.Read)));

        // A reload over HTTP: accepted with its operation, exported by the reload orchestration, which the watchdog
        // starts (it finds the ingest running and leaves it be).
        var reload = await app.SendAsync("POST", "tables/public.items/reload");
        Assert.True(reload.StatusCode == 202, $"reload: {reload.StatusCode} {reload.Body}");
        var id = JsonDocument.Parse(reload.Body).RootElement.GetProperty("id").GetInt64();
        await RunWatchdogAsync(app, hub);
        var operation = await WaitForOperationAsync(app, id);
        Assert.Equal("completed", operation.GetProperty("state").GetString());
        Assert.Equal(150, operation.GetProperty("rows").GetInt64());
        var path = Path.Combine(outFolder, operation.GetProperty("path").GetString()!);
        Assert.EndsWith("full_reload.csv.gz", path, StringComparison.Ordinal);
        var reloaded = GzipCsv.Read(path);
        Assert.Equal(Enumerable.Range(1, 150), Ids(reloaded));
        Assert.All(reloaded, r => Assert.Equal("R", r["_op"]));

        var ingest = await hub.Client.GetInstanceAsync(app.Services.GetRequiredService<EternalOrchestrations>().Ingest.InstanceId);
        Assert.Equal(Microsoft.DurableTask.Client.OrchestrationRuntimeStatus.Running, ingest?.RuntimeStatus);
        output.WriteLine($"reload {id} completed at {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private static IEnumerable<int> Ids(IEnumerable<IReadOnlyDictionary<string, string>> rows) =>
        rows.Select(r => int.Parse(r["id"], System.Globalization.CultureInfo.InvariantCulture)).Order();

    private static TimeSpan Interval(FunctionsAppHost app) => app.Services.GetRequiredService<PgEgressOptions>().Batch.Interval;

    /// <returns>The boundary this tick was for, as <see cref="TimerFlush"/> reckons it.</returns>
    private static async Task<DateTime> RunFlushTimerAsync(FunctionsAppHost app)
    {
        var boundary = BatchWindow.AlignDown(DateTime.UtcNow + TimerFlush.EarlyTolerance, Interval(app));
        await using var scope = app.Services.CreateAsyncScope();
        await app.Create<FlushTimer>(scope.ServiceProvider).Run(new TimerInfo(), new TestFunctionContext(nameof(FlushTimer), scope.ServiceProvider, CancellationToken.None));
        return boundary;
    }

    private static async Task RunWatchdogAsync(FunctionsAppHost app, AzureStorageTaskHub hub)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await app.Create<Watchdog>(scope.ServiceProvider).Run(new TimerInfo(), hub.Client, new TestFunctionContext(nameof(Watchdog), scope.ServiceProvider, CancellationToken.None));
    }

    private static List<string> StreamingFiles(string outFolder) =>
        Directory.Exists(outFolder) ? [.. Directory.GetFiles(outFolder, "streaming*.csv.gz", SearchOption.AllDirectories).Order(StringComparer.Ordinal)] : [];

    /// <summary>Polls GET ingest/status until the orchestration's counters show <paramref name="changes"/> staged.</summary>
    private static Task WaitForChangesAsync(FunctionsAppHost app, AzureStorageTaskHub hub, long changes) =>
        WaitForStateAsync(app, hub, state => state.GetProperty("changes").GetInt64() >= changes, $"{changes} changes staged");

    /// <summary>Polls GET ingest/status until the orchestration's state satisfies <paramref name="condition"/>.</summary>
    private static async Task WaitForStateAsync(FunctionsAppHost app, AzureStorageTaskHub hub, Func<JsonElement, bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var status = await app.SendAsync("GET", "ingest/status", hub.Client);
            var body = JsonDocument.Parse(status.Body).RootElement;
            if (body.TryGetProperty("state", out var state) && state.ValueKind == JsonValueKind.Object && condition(state)) return;
            Assert.True(body.GetProperty("failure").ValueKind == JsonValueKind.Null, status.Body);
            Assert.True(deadline.Elapsed < Deadline, $"not {what} within {Deadline.TotalSeconds} s: {status.Body}");
            await Task.Delay(250);
        }
    }

    private static async Task<JsonElement> WaitForOperationAsync(FunctionsAppHost app, long id)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var reply = await app.SendAsync("GET", $"operations/{id}");
            var operation = JsonDocument.Parse(reply.Body).RootElement;
            if (operation.GetProperty("state").GetString() is "completed" or "failed") return operation;
            Assert.True(deadline.Elapsed < Deadline, $"operation {id} not done within {Deadline.TotalSeconds} s: {reply.Body}");
            await Task.Delay(250);
        }
    }

    private static async Task ExecuteAsync(string db, string sql)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
