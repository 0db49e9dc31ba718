using Microsoft.Azure.Functions.Worker;
// OrchestrationQuery is in Microsoft.DurableTask.Client (shared/reference/azure-functions.md); some versions declare it in Microsoft.DurableTask.
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace PgEgress.Functions.Orchestrations;

/// <summary>
/// Every minute, starts each eternal orchestration that is not running: never started, failed, or completed. One
/// an operator stopped (POST /api/ingest/stop) stays stopped. Running ones the configuration no longer names are
/// terminated. The timer is a singleton across instances; the race with an HTTP start is tolerated by
/// <see cref="OrchestrationStarter"/>.
/// </summary>
public sealed class Watchdog(EternalOrchestrations orchestrations, ILogger<Watchdog> logger)
{
    [Function(nameof(Watchdog))]
    public async Task Run([TimerTrigger("0 * * * * *")] TimerInfo timer, [DurableClient] DurableTaskClient client, FunctionContext context)
    {
        foreach (var orchestration in orchestrations.All)
        {
            var outcome = await OrchestrationStarter.EnsureRunningAsync(client, orchestration, restartStopped: false, context.CancellationToken);
            if (outcome == StartOutcome.Started)
                logger.LogWarning("Started {Orchestrator} as {InstanceId}: it was not running", orchestration.Orchestrator, orchestration.InstanceId);
        }

        // Instances an earlier configuration started (another slot, a sink since removed): nothing is left for them to run.
        var live = new List<string>();
        var query = new OrchestrationQuery
        {
            InstanceIdPrefix = EternalOrchestrations.InstancePrefix,
            Statuses = [OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Suspended],
        };
        await foreach (var instance in client.GetAllInstancesAsync(query).WithCancellation(context.CancellationToken))
            live.Add(instance.InstanceId);
        foreach (var orphan in orchestrations.Orphans(live))
        {
            await client.TerminateInstanceAsync(orphan, (object)"the configuration no longer names this orchestration", context.CancellationToken);
            logger.LogWarning("Terminated {InstanceId}: the configuration no longer names it", orphan);
        }
    }
}
