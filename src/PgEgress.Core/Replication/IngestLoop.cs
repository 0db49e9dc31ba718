using Microsoft.Extensions.Logging;
using Polly;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Replication;

/// <summary>
/// The self-hosted ingest: slice after slice until stopped. A failed slice (connection lost, slot still held by a
/// dying predecessor, store unreachable) is retried with capped exponential backoff; what was staged is never lost,
/// because the slot is only acknowledged after staging. A permanent failure (login refused, slot or publication gone)
/// is retried too, an operator may fix it, but with a longer pause and one log line per change of failure.
/// </summary>
public sealed class IngestLoop(SliceConsumer consumer, IngestProgress progress, HealthOptions health, ILogger<IngestLoop> logger)
{
    private readonly ResiliencePipeline _retry = LoopRetry.Forever(TimeSpan.FromMilliseconds(500), health.PermanentRetryMaxDelay, (e, attempt, delay) =>
    {
        var changed = progress.Failed(e);
        if (FailureClassifier.Classify(e) == FailureKind.Transient)
            logger.LogError(e, "Slice failed (attempt {Attempt}); retrying in {Delay}", attempt, delay);
        else if (changed)
            logger.LogError(e, "Slice failed permanently (attempt {Attempt}): {Reason}; retrying in {Delay}, less often after, until an operator fixes it", attempt, e.Message, delay);
        else
            logger.LogDebug("Slice failed again (attempt {Attempt}, same permanent failure); retrying in {Delay}", attempt, delay);
    });

    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var slice = await _retry.ExecuteAsync(async ct => await consumer.ConsumeSliceAsync(ct), stop);
                progress.SliceDone(slice);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            await consumer.DisposeAsync();
        }
    }
}
