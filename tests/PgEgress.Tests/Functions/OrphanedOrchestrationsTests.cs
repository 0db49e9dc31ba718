using PgEgress.Core.Configuration;

namespace PgEgress.Tests.Functions;

/// <summary>
/// Orchestrations an earlier configuration started (another slot, a sink since removed or disabled) are orphans: the
/// watchdog terminates them, and their own orchestrator ends once its retries give up (IngestOrchestratorTests).
/// The Functions source runs compiled against the stand-ins (StandIns/OrchestrationProbe.cs).
/// </summary>
public sealed class OrphanedOrchestrationsTests
{
    /// <summary>Slot "orders", with sink "hook" enabled and sink "audit" configured but disabled.</summary>
    private static PgEgressOptions Configuration() => new()
    {
        Source = { Slot = "orders" },
        Sinks =
        {
            ["hook"] = new SinkOptions { Enabled = true },
            ["audit"] = new SinkOptions { Enabled = false },
        },
    };

    private static readonly string[] Configured = ["pgegress-ingest-orders", "pgegress-reload-orders", "pgegress-sink-orders-hook"];

    private static async Task<string[]> WatchdogAsync(params string[] running)
    {
        var trace = await OrchestrationProbeImage.Call<Task<string>>("RunWatchdogAsync", Configuration(), running);
        return trace.Length == 0 ? [] : trace.Split('\n');
    }

    [Fact]
    public async Task The_watchdog_terminates_running_instances_of_an_old_slot_and_of_removed_or_disabled_sinks()
    {
        var trace = await WatchdogAsync([.. Configured, "pgegress-ingest-old", "pgegress-reload-old", "pgegress-sink-old-hook",
            "pgegress-sink-orders-gone", "pgegress-sink-orders-audit"]);

        Assert.Equal(["terminate pgegress-ingest-old", "terminate pgegress-reload-old", "terminate pgegress-sink-old-hook",
            "terminate pgegress-sink-orders-gone", "terminate pgegress-sink-orders-audit"], trace);
    }

    [Fact]
    public async Task The_watchdog_leaves_configured_instances_alone_and_starts_what_is_missing()
    {
        var trace = await WatchdogAsync("pgegress-ingest-orders");

        Assert.Equal(["start pgegress-reload-orders", "start pgegress-sink-orders-hook"], trace);
    }

    [Fact]
    public void Only_this_apps_instances_that_the_configuration_does_not_name_are_orphans()
    {
        string[] ids = [.. Configured, "pgegress-sink-orders-audit", "pgegress-ingest-orders2", "someone-elses-orchestration", "PGEGRESS-ingest-old"];

        var orphans = OrchestrationProbeImage.Call<string[]>("Orphans", Configuration(), ids);

        Assert.Equal(["pgegress-sink-orders-audit", "pgegress-ingest-orders2"], orphans);
    }
}
