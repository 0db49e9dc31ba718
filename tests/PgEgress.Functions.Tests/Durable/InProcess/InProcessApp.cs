using System.Collections.Concurrent;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Npgsql;
using PgEgress.Functions.Tests.App;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>
/// The Functions app (<see cref="FunctionsAppHost"/>) with its orchestrators and activities under the in-process
/// Durable engine, on a database of its own with table public.t, short Durable timings, and when each activity was
/// invoked (every retry is an invocation).
/// </summary>
internal sealed class InProcessApp : IAsyncDisposable
{
    public required FunctionsAppHost App { get; init; }
    public required DurableTaskTestHost Engine { get; init; }
    public required string Database { get; init; }
    public required string OutputFolder { get; init; }
    public required ConcurrentDictionary<string, ConcurrentQueue<DateTime>> Invocations { get; init; }

    public DurableTaskClient Client => Engine.Client;

    /// <summary>The timings the tests run with: three attempts 100 ms, 200 ms apart; a 2 s back-off; 1 s idle pauses.</summary>
    public static readonly IReadOnlyDictionary<string, string?> FastTimings = new Dictionary<string, string?>
    {
        ["PgEgress__Durable__RetryAttempts"] = "3",
        ["PgEgress__Durable__RetryFirstInterval"] = "00:00:00.100",
        ["PgEgress__Durable__RetryBackoffCoefficient"] = "2",
        ["PgEgress__Durable__RetryMaxInterval"] = "00:00:01",
        ["PgEgress__Durable__FailureBackoff"] = "00:00:02",
        ["PgEgress__Durable__ReloadIdleDelay"] = "00:00:01",
        ["PgEgress__Durable__SinkIdleDelay"] = "00:00:01",
    };

    /// <param name="database">The source's connection string; null: a new database with table public.t.</param>
    public static async Task<InProcessApp> StartAsync(PostgresFixture pg, string name, IReadOnlyDictionary<string, string?>? extra = null,
        string? database = null)
    {
        if (database is null)
        {
            database = await pg.CreateUniqueDatabaseAsync("fn_" + name);
            await using var c = new NpgsqlConnection(database);
            await c.OpenAsync();
            await new NpgsqlCommand("create table t(id int primary key, note text)", c).ExecuteNonQueryAsync();
        }
        var work = Directory.CreateTempSubdirectory("pgegress-fn-").FullName;
        var settings = new Dictionary<string, string?>(FastTimings)
        {
            ["PgEgress__Source__ConnectionString"] = database,
            ["PgEgress__Source__Slot"] = $"fn_{name}_{Guid.NewGuid():N}"[..30],
            ["PgEgress__Source__Tables__0"] = "public.t",
            ["PgEgress__Slice__MaxDuration"] = "00:00:01",
            ["PgEgress__Storage__Kind"] = "FileSystem",
            ["PgEgress__Storage__Path"] = Path.Combine(work, "out"),
            ["PgEgress__WorkDirectory"] = Path.Combine(work, "work"),
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) settings[k] = v;
        var app = FunctionsAppHost.Build(settings);
        var invocations = new ConcurrentDictionary<string, ConcurrentQueue<DateTime>>(StringComparer.Ordinal);
        var engine = await DurableTaskTestHost.StartAsync(tasks =>
        {
            foreach (var (n, orchestrator) in AppDurableTasks.Orchestrators(app.Services)) tasks.AddOrchestrator(n, orchestrator);
            foreach (var (n, activity) in AppDurableTasks.Activities(app.Services)) tasks.AddActivity(n, new Counted(n, activity, invocations));
        });
        return new InProcessApp { App = app, Engine = engine, Database = database, OutputFolder = Path.Combine(work, "out"), Invocations = invocations };
    }

    public int InvocationsOf(string activity) => Invocations.GetValueOrDefault(activity)?.Count ?? 0;

    /// <summary>How many invocations of <paramref name="activity"/> started in [from, to) (UTC, the engine's clock).</summary>
    public int InvocationsOf(string activity, DateTime from, DateTime to) => Invocations.GetValueOrDefault(activity)?.Count(t => t >= from && t < to) ?? 0;

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> holds, failing with the last value after <paramref name="seconds"/>.</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) Assert.Fail($"{what}: not within {seconds} s; last: {value}");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until the instance satisfies <paramref name="done"/>; fails at once if it failed.</summary>
    public Task<OrchestrationMetadata?> WaitForInstanceAsync(string instanceId, Func<OrchestrationMetadata?, bool> done, string what, int seconds = 30) =>
        WaitForAsync(async () =>
        {
            var instance = await Client.GetInstanceAsync(instanceId, true);
            if (instance?.RuntimeStatus == OrchestrationRuntimeStatus.Failed && !done(instance))
                Assert.Fail($"{instanceId} failed: {instance.FailureDetails?.ErrorMessage}");
            return instance;
        }, done, what, seconds);

    public async ValueTask DisposeAsync()
    {
        await Engine.DisposeAsync();
        await App.DisposeAsync();
    }

    private sealed class Counted(string name, ITaskActivity inner, ConcurrentDictionary<string, ConcurrentQueue<DateTime>> invocations) : ITaskActivity
    {
        public Type InputType => inner.InputType;

        public Type OutputType => inner.OutputType;

        public Task<object?> RunAsync(TaskActivityContext context, object? input)
        {
            invocations.GetOrAdd(name, _ => new ConcurrentQueue<DateTime>()).Enqueue(DateTime.UtcNow);
            return inner.RunAsync(context, input);
        }
    }
}
