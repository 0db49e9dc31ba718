using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Replication;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Ingest;

/// <summary>The ingest orchestration's activities: each hands over to Core.</summary>
public sealed class IngestActivities(IServiceProvider services, PgEgressOptions options, PipelineStartup startup, IngestProgress progress)
{
    /// <summary>Core's <see cref="PipelineStartup"/> (store, source checks, registry migrations, publication, slot).</summary>
    /// <returns>False when <paramref name="pipeline"/> is no longer configured, so its orchestration ends.</returns>
    [Function(nameof(PrepareSource))]
    public async Task<bool> PrepareSource([ActivityTrigger] string pipeline, FunctionContext context)
    {
        if (pipeline != options.Source.Slot) return false;
        try
        {
            await startup.RunAsync(context.CancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Shown by /api/ready and /api/status of this instance, like a failed slice.
            progress.Failed(e);
            if (PermanentFailureException.For(e) is { } permanent) throw permanent;
            throw;
        }
        return true;
    }

    /// <summary>
    /// Core's <see cref="SliceRun"/>: slices on one consumer until <c>Slice:ActivityBudget</c> is spent or a slice is
    /// idle with the server caught up; only the run's summary goes back to the orchestrator.
    /// </summary>
    [Function(nameof(ConsumeSlice))]
    public async Task<SliceRunResult> ConsumeSlice([ActivityTrigger] string pipeline, FunctionContext context)
    {
        if (pipeline != options.Source.Slot)
            throw new InvalidOperationException($"pipeline '{pipeline}' is not configured (PgEgress__Source__Slot is '{options.Source.Slot}')");
        // A consumer of its own for this run, disposed when the activity ends: the replication session, and with it the
        // slot, is released between activities, whichever instance runs the next one.
        await using var consumer = ActivatorUtilities.CreateInstance<SliceConsumer>(services);
        try
        {
            return await SliceRun.RunAsync(consumer, options.Slice, progress.SliceDone, context.CancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            progress.Failed(e);
            if (PermanentFailureException.For(e) is { } permanent) throw permanent;
            throw;
        }
    }
}
