using Microsoft.Extensions.Logging;
using Polly;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Replication;

/// <summary>
/// The self-hosted ingest: slice after slice until stopped. A failed slice (connection lost, slot still held by a
/// dying predecessor, store unreachable) is retried with capped exponential backoff; what was staged is never lost,
/// because the slot is only acknowledged after staging.
/// </summary>
public sealed class IngestLoop(SliceConsumer consumer, IngestProgress progress, ILogger<IngestLoop> logger)
{
    private readonly ResiliencePipeline _retry = LoopRetry.Forever(TimeSpan.FromMilliseconds(500), (e, attempt, delay) =>
    {
        progress.Failed(e.Message);
        logger.LogError(e, "Slice failed (attempt {Attempt}); retrying in {Delay}", attempt, delay);
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
