using System.Diagnostics;
using DurableTask.Core.Exceptions;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Tests.App;
using PgEgress.Functions.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Functions.Tests.Durable.AzureStorage;

/// <summary>
/// On the production backend a second start of a running instance id is refused (the in-memory engines do not
/// refuse it), and the starters of the eternal orchestrations (the watchdog, POST ingest/start) take that refusal
/// for "already running" when they lose the race to another starter.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SecondStartTests(PostgresFixture pg, AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>, IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-fn-az-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_second_start_is_refused_and_the_watchdog_or_HTTP_start_that_loses_the_race_counts_it_as_running()
    {
        var db = await pg.CreateUniqueDatabaseAsync("fn_az_race");
        await using (var connection = new NpgsqlConnection(db))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("CREATE TABLE public.items (id int PRIMARY KEY)", connection);
            await create.ExecuteNonQueryAsync();
        }
        await using var app = FunctionsAppHost.Build(PipelineSettings.For(db, "public.items", _root));
        await using var hub = await AzureStorageTaskHub.StartAsync(azurite.Server, app.Services, PipelineSettings.TaskHub());
        output.WriteLine($"task hub created in {hub.Created.TotalSeconds:0.00} s");
        var ingest = app.Services.GetRequiredService<EternalOrchestrations>().Ingest;

        // The watchdog finds no ingest, and another starter (an HTTP start) gets in before its own start does.
        var racing = new RivalStartClient(hub.Client, ingest.InstanceId);
        await using (var scope = app.Services.CreateAsyncScope())
            await app.Create<Watchdog>(scope.ServiceProvider).Run(new TimerInfo(), racing, new TestFunctionContext(nameof(Watchdog), scope.ServiceProvider, CancellationToken.None));
        Assert.NotNull(racing.Rival);
        Assert.Equal(ingest.InstanceId, await racing.Rival);

        // The rival's instance runs; the watchdog started the rest (the reload orchestration) as usual.
        var running = await WaitForStatusAsync(hub.Client, ingest.InstanceId, OrchestrationRuntimeStatus.Running);
        var reload = app.Services.GetRequiredService<EternalOrchestrations>().Reload;
        Assert.NotNull(await hub.Client.GetInstanceAsync(reload.InstanceId));

        // What the backend answers a second start of the running instance id, and what the starters make of it.
        var refused = await Assert.ThrowsAsync<OrchestrationAlreadyExistsException>(() =>
            hub.Client.ScheduleNewOrchestrationInstanceAsync(ingest.Orchestrator, ingest.Input, new StartOrchestrationOptions { InstanceId = ingest.InstanceId }));
        output.WriteLine($"second start: {refused.GetType().FullName}: {refused.Message}");
        Assert.Equal(StartOutcome.AlreadyRunning, await OrchestrationStarter.EnsureRunningAsync(hub.Client, ingest, restartStopped: true, CancellationToken.None));
        var after = await hub.Client.GetInstanceAsync(ingest.InstanceId);
        Assert.Equal(OrchestrationRuntimeStatus.Running, after?.RuntimeStatus);
        Assert.Equal(running.CreatedAt, after!.CreatedAt); // still the instance the rival started: the refused start replaced nothing

        // POST ingest/start after a stop, losing the race to another starter the same way: it answers with the
        // instance the other started.
        var stopped = await app.SendAsync("POST", "ingest/stop", hub.Client);
        Assert.True(stopped.StatusCode == 200, $"ingest/stop: {stopped.StatusCode} {stopped.Body}");
        var httpRacing = new RivalStartClient(hub.Client, ingest.InstanceId);
        var started = await app.SendAsync("POST", "ingest/start", httpRacing);
        Assert.True(started.StatusCode == 200, $"ingest/start: {started.StatusCode} {started.Body}");
        Assert.NotNull(httpRacing.Rival);
        var restarted = await WaitForStatusAsync(hub.Client, ingest.InstanceId, OrchestrationRuntimeStatus.Running);
        Assert.True(restarted.CreatedAt > running.CreatedAt, $"{restarted.CreatedAt:o} is not after {running.CreatedAt:o}");
    }

    private static async Task<OrchestrationMetadata> WaitForStatusAsync(DurableTaskClient client, string instanceId, OrchestrationRuntimeStatus status)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var instance = await client.GetInstanceAsync(instanceId);
            if (instance?.RuntimeStatus == status) return instance;
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"{instanceId} is {instance?.RuntimeStatus}, not {status}");
            await Task.Delay(100);
        }
    }
}
