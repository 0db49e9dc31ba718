using System.Diagnostics;
using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Tests.App;
using PgEgress.Functions.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>
/// The ingest's HTTP start, stop and status (IngestControl) and the Watchdog timer function, against the in-process
/// engine running the app's orchestrations: what an operator sees in /api/ingest/status and which instances run.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class WatchdogAndControlTests(PostgresFixture pg, ITestOutputHelper output)
{
    [Fact]
    public async Task Stop_and_start_over_HTTP_and_the_watchdog_leaves_a_stopped_ingest_stopped()
    {
        var watch = Stopwatch.StartNew();
        await using var fx = await InProcessApp.StartAsync(pg, "ctl");
        var all = fx.App.Services.GetRequiredService<EternalOrchestrations>();

        Assert.Equal(404, (await fx.App.SendAsync("GET", "ingest/status", fx.Client)).StatusCode);
        var started = await fx.App.SendAsync("POST", "ingest/start", fx.Client);
        Assert.Equal(202, started.StatusCode);
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 1 }, "a first slice");
        var again = await fx.App.SendAsync("POST", "ingest/start", fx.Client);
        Assert.Equal(200, again.StatusCode);
        Assert.Equal("Running", Field(again, "runtime_status"));
        Assert.Single(await InstancesAsync(fx.Client));

        var stopped = await fx.App.SendAsync("POST", "ingest/stop", fx.Client);
        output.WriteLine($"stop: {stopped.StatusCode} {Field(stopped, "runtime_status")}");
        Assert.True((stopped.StatusCode, Field(stopped, "runtime_status")) is (200, "Terminated") or (202, "Terminating"), stopped.Body);
        await InProcessApp.WaitForAsync(() => fx.App.SendAsync("GET", "ingest/status", fx.Client), r => Field(r, "runtime_status") == "Terminated", "status Terminated");

        // The watchdog starts what is missing (the reload and verification runners) and leaves the operator's stop alone.
        await RunWatchdogAsync(fx);
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, (await fx.Client.GetInstanceAsync(all.Ingest.InstanceId))!.RuntimeStatus);
        Assert.NotNull(await fx.Client.GetInstanceAsync(all.Reload.InstanceId));
        Assert.NotNull(await fx.Client.GetInstanceAsync(all.Verify.InstanceId));

        var restarted = await fx.App.SendAsync("POST", "ingest/start", fx.Client);
        Assert.Equal(202, restarted.StatusCode);
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the ingest running again");
        Assert.Equal(3, (await InstancesAsync(fx.Client)).Count);
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task The_watchdog_starts_missing_orchestrations_and_restarts_a_failed_or_completed_one()
    {
        var watch = Stopwatch.StartNew();
        await using var fx = await InProcessApp.StartAsync(pg, "dog", new Dictionary<string, string?>
        {
            ["PgEgress__Sinks__hook__Kind"] = "Http",
            ["PgEgress__Sinks__hook__Url"] = "http://127.0.0.1:9/hook",
        });
        var all = fx.App.Services.GetRequiredService<EternalOrchestrations>();
        var sink = all.Sinks.Single();
        // The ingest completes (a state naming another pipeline ends it); the reload fails (started without its input).
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(all.Ingest.Orchestrator, IngestState.Start("elsewhere", TimeSpan.FromSeconds(1), DurableTiming.Default),
            new StartOrchestrationOptions { InstanceId = all.Ingest.InstanceId });
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(all.Reload.Orchestrator, null, new StartOrchestrationOptions { InstanceId = all.Reload.InstanceId });
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Completed, "the ingest completed");
        await fx.WaitForInstanceAsync(all.Reload.InstanceId, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Failed, "the reload failed");
        Assert.Null(await fx.Client.GetInstanceAsync(sink.InstanceId));

        await RunWatchdogAsync(fx);

        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 1 }, "the ingest restarted and slicing");
        var reload = await fx.WaitForInstanceAsync(all.Reload.InstanceId, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the reload restarted");
        Assert.Equal(all.Reload.Input, reload!.ReadInputAs<TargetInput>());
        await fx.WaitForInstanceAsync(sink.InstanceId, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the sink started");
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }

    internal static async Task RunWatchdogAsync(InProcessApp fx)
    {
        await using var scope = fx.App.Services.CreateAsyncScope();
        var watchdog = fx.App.Create<Watchdog>(scope.ServiceProvider);
        await watchdog.Run(new TimerInfo(), fx.Client, new TestFunctionContext(nameof(Watchdog), scope.ServiceProvider, CancellationToken.None));
    }

    private static async Task<List<string>> InstancesAsync(DurableTaskClient client)
    {
        var ids = new List<string>();
        await foreach (var i in client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = EternalOrchestrations.InstancePrefix })) ids.Add(i.InstanceId);
        return ids;
    }

    private static string? Field(FunctionReply reply, string name) =>
        JsonDocument.Parse(reply.Body).RootElement.TryGetProperty(name, out var v) ? v.GetString() : null;
}
