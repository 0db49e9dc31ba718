using System.Diagnostics;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using PgEgress.Core.Configuration;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Reload;
using PgEgress.Functions.Sinks;
using PgEgress.Functions.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>
/// Orchestrations an earlier configuration started (another slot, a sink since removed) are orphans: their own
/// orchestrator ends once it finds its target unconfigured, and the watchdog terminates those still running.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class OrphanedOrchestrationTests(PostgresFixture pg, ITestOutputHelper output)
{
    [Fact]
    public async Task Orphans_end_by_themselves_or_are_terminated_by_the_watchdog()
    {
        var watch = Stopwatch.StartNew();
        await using var fx = await InProcessApp.StartAsync(pg, "orphan");
        var all = fx.App.Services.GetRequiredService<EternalOrchestrations>();
        var slot = ((IngestState)all.Ingest.Input).Pipeline;
        var fast = ((IngestState)all.Ingest.Input).Timing;

        // An ingest of another slot: PrepareSource says it is not configured. A sink since removed: DeliverSink fails, TargetConfigured says so.
        var oldIngest = IngestOrchestrator.InstanceIdFor("old_slot");
        var goneSink = SinkOrchestrator.InstanceIdFor(slot, "gone");
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(nameof(IngestOrchestrator), IngestState.Start("old_slot", TimeSpan.FromSeconds(1), fast!),
            new StartOrchestrationOptions { InstanceId = oldIngest });
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(nameof(SinkOrchestrator), new TargetInput("gone", TimeSpan.FromSeconds(1), fast),
            new StartOrchestrationOptions { InstanceId = goneSink });
        // A reload of another slot started before the timings were settings (a bare name): its default retries take minutes, so it is still running.
        var oldReload = ReloadOrchestrator.InstanceIdFor("old_slot");
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(nameof(ReloadOrchestrator), "old_slot", new StartOrchestrationOptions { InstanceId = oldReload });

        await fx.WaitForInstanceAsync(oldIngest, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Completed, "the old slot's ingest ended");
        await fx.WaitForInstanceAsync(goneSink, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Completed, "the removed sink's orchestration ended");
        Assert.True(fx.InvocationsOf(nameof(OrchestrationActivities.TargetConfigured)) >= 1);
        await InProcessApp.WaitForAsync(() => Task.FromResult(fx.InvocationsOf(nameof(ReloadActivities.ExportReloads))), n => n >= 1, "the old reload's first attempt");
        Assert.Equal(OrchestrationRuntimeStatus.Running, (await fx.Client.GetInstanceAsync(oldReload))!.RuntimeStatus);

        await WatchdogAndControlTests.RunWatchdogAsync(fx);

        await fx.WaitForInstanceAsync(oldReload, i => i?.RuntimeStatus == OrchestrationRuntimeStatus.Terminated, "the old reload terminated");
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 1 }, "the configured ingest started and slicing");
        Assert.Equal(OrchestrationRuntimeStatus.Running, (await fx.Client.GetInstanceAsync(all.Reload.InstanceId))!.RuntimeStatus);
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Only_this_apps_instances_that_the_configuration_does_not_name_are_orphans()
    {
        var orchestrations = new EternalOrchestrations(new PgEgressOptions
        {
            Source = { Slot = "orders" },
            Sinks = { ["hook"] = new SinkOptions { Enabled = true }, ["audit"] = new SinkOptions { Enabled = false } },
        });
        string[] ids = ["pgegress-ingest-orders", "pgegress-reload-orders", "pgegress-sink-orders-hook", "pgegress-sink-orders-audit",
            "pgegress-ingest-orders2", "someone-elses-orchestration", "PGEGRESS-ingest-old"];

        Assert.Equal(["pgegress-sink-orders-audit", "pgegress-ingest-orders2"], orchestrations.Orphans(ids));
    }
}
