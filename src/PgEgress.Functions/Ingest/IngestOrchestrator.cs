using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Replication;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Ingest;

/// <summary>
/// The eternal ingest orchestration, one per pipeline under a fixed instance id. Each generation runs the ConsumeSlice
/// activity: slices (each bounded by time, bytes and transactions, ending on a transaction boundary) on one replication
/// session up to the activity budget, returning only their summary; it pauses on a durable timer when the last slice
/// was idle, and continues as new with the new state, so the history stays one generation long. Orchestrator code: no I/O, no clock but the context's.
/// </summary>
public static class IngestOrchestrator
{
    public static string InstanceIdFor(string pipeline) => $"{EternalOrchestrations.InstancePrefix}ingest-{pipeline}";

    [Function(nameof(IngestOrchestrator))]
    public static async Task Run([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var state = context.GetInput<IngestState>()
            ?? throw new InvalidOperationException($"{nameof(IngestOrchestrator)} was started without its {nameof(IngestState)}");
        // Activity retries, then (after the last attempt failed) a pause before the next generation prepares the source again.
        var timing = state.Timing ?? DurableTiming.Default;
        var retry = timing.ActivityRetry();
        try
        {
            if (!state.Prepared)
            {
                var known = await context.CallActivityAsync<bool>(nameof(IngestActivities.PrepareSource), state.Pipeline, retry);
                // The pipeline is no longer configured (e.g. the slot setting changed): this orchestration ends.
                if (!known) return;
                state = state with { Prepared = true };
            }
            var run = await context.CallActivityAsync<SliceRunResult>(nameof(IngestActivities.ConsumeSlice), state.Pipeline, retry);
            state = state.After(run);
            if (run.Idle)
                await context.CreateTimer(context.CurrentUtcDateTime.Add(state.IdleDelay), CancellationToken.None);
        }
        catch (TaskFailedException e)
        {
            state = state.AfterFailure(e.Message, PermanentFailureException.Caused(e.FailureDetails) ? FailureKind.Permanent : FailureKind.Transient,
                context.CurrentUtcDateTime);
            await context.CreateTimer(context.CurrentUtcDateTime.Add(timing.FailureBackoff), CancellationToken.None);
        }
        // Never ContinueAsNew(null): see shared/reference/azure-functions.md, gotcha #1.
        context.ContinueAsNew(state);
    }
}
