using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Reload;

/// <summary>
/// The eternal reload orchestration, one per pipeline: each generation runs the ExportReloads activity (Core's
/// ReloadCoordinator: the next pending reload of the pipeline under a fresh snapshot), waits on a durable timer when
/// nothing was pending, and continues as new. Requests reach it through the registry, whichever way they were made.
/// </summary>
public static class ReloadOrchestrator
{
    /// <summary>The pause after a round that found nothing to export.</summary>
    public static readonly TimeSpan IdleDelay = TimeSpan.FromSeconds(15);

    public static string InstanceIdFor(string pipeline) => $"{EternalOrchestrations.InstancePrefix}reload-{pipeline}";

    [Function(nameof(ReloadOrchestrator))]
    public static async Task Run([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var pipeline = context.GetInput<string>()
            ?? throw new InvalidOperationException($"{nameof(ReloadOrchestrator)} was started without its pipeline");
        var exported = 0;
        try
        {
            exported = await context.CallActivityAsync<int>(nameof(ReloadActivities.ExportReloads), pipeline, IngestOrchestrator.ActivityRetry);
        }
        catch (TaskFailedException)
        {
            // The pipeline is no longer configured (e.g. the slot setting changed): this orchestration ends, as the ingest's does.
            if (!await context.CallActivityAsync<bool>(nameof(OrchestrationActivities.TargetConfigured), context.InstanceId, IngestOrchestrator.ActivityRetry))
                return;
            // The registry keeps the operation's error and attempts; the next generation tries again.
        }
        if (exported == 0) await context.CreateTimer(context.CurrentUtcDateTime.Add(IdleDelay), CancellationToken.None);
        // Never ContinueAsNew(null): see shared/reference/azure-functions.md, gotcha #1.
        context.ContinueAsNew(pipeline);
    }
}
