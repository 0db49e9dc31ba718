using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Sinks;

/// <summary>
/// The eternal delivery orchestration of one sink, under a fixed instance id: each generation runs the DeliverSink
/// activity (Core's sink runner, from the sink's own cursor, for a bounded slice), pauses on a durable timer when the
/// sink had caught up, and continues as new. A sink that is down holds no WAL: the staged log keeps its backlog.
/// </summary>
public static class SinkOrchestrator
{
    public static readonly TimeSpan IdleDelay = TimeSpan.FromSeconds(5);

    public static string InstanceIdFor(string pipeline, string sink) => $"{EternalOrchestrations.InstancePrefix}sink-{pipeline}-{sink}";

    [Function(nameof(SinkOrchestrator))]
    public static async Task Run([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var sink = context.GetInput<string>()
            ?? throw new InvalidOperationException($"{nameof(SinkOrchestrator)} was started without its sink");
        var caughtUp = true;
        try
        {
            caughtUp = await context.CallActivityAsync<bool>(nameof(SinkActivities.DeliverSink), sink, IngestOrchestrator.ActivityRetry);
        }
        catch (TaskFailedException)
        {
            // The sink was removed or disabled since this orchestration started: it ends, as the ingest's does.
            if (!await context.CallActivityAsync<bool>(nameof(OrchestrationActivities.TargetConfigured), context.InstanceId, IngestOrchestrator.ActivityRetry))
                return;
            // The sink's metrics hold the last error; the next generation resumes from the cursor.
        }
        if (caughtUp) await context.CreateTimer(context.CurrentUtcDateTime.Add(IdleDelay), CancellationToken.None);
        // Never ContinueAsNew(null): see shared/reference/azure-functions.md, gotcha #1.
        context.ContinueAsNew(sink);
    }
}
