using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using PgEgress.Core.Configuration;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Reload;

/// <summary>
/// The eternal reload orchestration, one per pipeline: each generation runs the ExportReloads activity (Core's
/// ReloadCoordinator: the next pending reload of the pipeline under a fresh snapshot), waits on a durable timer when
/// nothing was pending, and continues as new. Requests reach it through the registry, whichever way they were made.
/// </summary>
public static class ReloadOrchestrator
{
    /// <summary>The pause after a round that found nothing to export, when the input names none (PgEgress__Durable__ReloadIdleDelay's default).</summary>
    public static readonly TimeSpan DefaultIdleDelay = new DurableOptions().ReloadIdleDelay;

    public static string InstanceIdFor(string pipeline) => $"{EternalOrchestrations.InstancePrefix}reload-{pipeline}";

    [Function(nameof(ReloadOrchestrator))]
    public static async Task Run([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var input = context.GetInput<TargetInput>()
            ?? throw new InvalidOperationException($"{nameof(ReloadOrchestrator)} was started without its pipeline");
        var retry = (input.Timing ?? DurableTiming.Default).ActivityRetry();
        var exported = 0;
        try
        {
            exported = await context.CallActivityAsync<int>(nameof(ReloadActivities.ExportReloads), input.Target, retry);
        }
        catch (TaskFailedException)
        {
            // The pipeline is no longer configured (e.g. the slot setting changed): this orchestration ends, as the ingest's does.
            if (!await context.CallActivityAsync<bool>(nameof(OrchestrationActivities.TargetConfigured), context.InstanceId, retry))
                return;
            // The registry keeps the operation's error and attempts; the next generation tries again.
        }
        if (exported == 0) await context.CreateTimer(context.CurrentUtcDateTime.Add(input.IdleDelay ?? DefaultIdleDelay), CancellationToken.None);
        // Never ContinueAsNew(null): see shared/reference/azure-functions.md, gotcha #1.
        context.ContinueAsNew(input);
    }
}
