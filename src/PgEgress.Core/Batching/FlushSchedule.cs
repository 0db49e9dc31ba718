using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Batching;

/// <summary>The self-hosted flush timer: one flush at every aligned window boundary (UTC), like the Functions timer trigger.</summary>
public sealed class FlushSchedule(BatchOptions options, BatchFlusher flusher, IngestProgress progress, TimeProvider time, ILogger<FlushSchedule> logger)
{
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var boundary = BatchWindow.NextBoundary(now, options.Interval);
            try
            {
                await Task.Delay(boundary - now, time, stop);
                progress.FlushDone(await flusher.FlushAsync(boundary, stop));
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (progress.Failed(e, IngestProgress.Flush, $"flush: {e.Message}") || FailureClassifier.Classify(e) == FailureKind.Transient)
                    logger.LogError(e, "Scheduled flush at {Boundary:o} failed; the next boundary retries it", boundary);
            }
        }
    }
}
