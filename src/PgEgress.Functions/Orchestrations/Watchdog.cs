using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace PgEgress.Functions.Orchestrations;

/// <summary>
/// Every minute, starts each eternal orchestration that is not running: never started, failed, or completed. One
/// an operator stopped (POST /api/ingest/stop) stays stopped. The timer is a singleton across instances; the race
/// with an HTTP start is tolerated by <see cref="OrchestrationStarter"/>.
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
    }
}
