using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using PgEgress.Core.Configuration;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Sinks;

/// <summary>
/// The eternal delivery orchestration of one sink, under a fixed instance id: each generation runs the DeliverSink
/// activity (Core's sink runner, from the sink's own cursor, for a bounded slice), pauses on a durable timer when the
/// sink had caught up, and continues as new. A sink that is down holds no WAL: the staged log keeps its backlog.
/// </summary>
public static class SinkOrchestrator
{
    /// <summary>The pause after the sink had caught up, when the input names none (PgEgress__Durable__SinkIdleDelay's default).</summary>
    public static readonly TimeSpan DefaultIdleDelay = new DurableOptions().SinkIdleDelay;

    public static string InstanceIdFor(string pipeline, string sink) => $"{EternalOrchestrations.InstancePrefix}sink-{pipeline}-{sink}";

    [Function(nameof(SinkOrchestrator))]
    public static async Task Run([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var input = context.GetInput<TargetInput>()
            ?? throw new InvalidOperationException($"{nameof(SinkOrchestrator)} was started without its sink");
        var retry = (input.Timing ?? DurableTiming.Default).ActivityRetry();
        var caughtUp = true;
        try
        {
            caughtUp = await context.CallActivityAsync<bool>(nameof(SinkActivities.DeliverSink), input.Target, retry);
        }
        catch (TaskFailedException)
        {
            // The sink was removed or disabled since this orchestration started: it ends, as the ingest's does.
            if (!await context.CallActivityAsync<bool>(nameof(OrchestrationActivities.TargetConfigured), context.InstanceId, retry))
                return;
            // The sink's metrics hold the last error; the next generation resumes from the cursor.
        }
        if (caughtUp) await context.CreateTimer(context.CurrentUtcDateTime.Add(input.IdleDelay ?? DefaultIdleDelay), CancellationToken.None);
        // Never ContinueAsNew(null): see shared/reference/azure-functions.md, gotcha #1.
        context.ContinueAsNew(input);
    }
}
