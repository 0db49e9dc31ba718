using Microsoft.Extensions.Logging;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Pipeline;

/// <summary>
/// The scheduled flush for a runtime whose timer ticks on its own (the Functions timer trigger <c>0 */5 * * * *</c>),
/// where the Host's <see cref="FlushSchedule"/> waits for the boundary itself. A tick flushes the window that ends at
/// the latest aligned boundary of <see cref="BatchOptions.Interval"/>, exactly as <see cref="FlushSchedule"/> does at
/// that boundary. A tick that comes a little early (timers may fire a few milliseconds before their time) still
/// counts for the boundary it was meant for; a tick whose boundary is already cut (a window longer than the timer's
/// period, a re-delivered tick, a forced flush past it) does nothing.
/// </summary>
public sealed class TimerFlush(
    PgEgressOptions options,
    BatchFlusher flusher,
    RegistryStore registry,
    IngestProgress progress,
    TimeProvider time,
    ILogger<TimerFlush> logger)
{
    /// <summary>How early a tick may come and still count for the next boundary.</summary>
    public static readonly TimeSpan EarlyTolerance = TimeSpan.FromSeconds(5);

    /// <returns>The flush, or null when the tick's boundary was already cut.</returns>
    public async Task<FlushResult?> RunAsync(CancellationToken ct)
    {
        var boundary = BatchWindow.AlignDown(time.GetUtcNow().UtcDateTime + EarlyTolerance, options.Batch.Interval);
        try
        {
            var cursor = await registry.GetCursorAsync(options.Source.Slot, RegistryStore.FlushConsumer, ct);
            if (cursor?.LastCut is { } last && DateTime.SpecifyKind(last, DateTimeKind.Utc) >= boundary)
            {
                logger.LogDebug("Flush tick: the boundary {Boundary:o} is already cut (last cut {Last:o})", boundary, last);
                return null;
            }
            var result = await flusher.FlushAsync(boundary, ct);
            progress.FlushDone(result);
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (progress.Failed(e, IngestProgress.Flush, $"flush: {e.Message}") || FailureClassifier.Classify(e) == FailureKind.Transient)
                logger.LogError(e, "Scheduled flush at {Boundary:o} failed; the next tick retries it", boundary);
            throw;
        }
    }
}
