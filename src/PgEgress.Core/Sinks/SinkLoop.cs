using Microsoft.Extensions.Logging;
using Polly;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Sinks;

/// <summary>The self-hosted delivery of one sink: slice after slice until stopped; a failed slice is retried with capped backoff.</summary>
public sealed class SinkLoop(ISinkRunner runner, ILogger logger)
{
    /// <summary>How long one slice delivers before its cursor is written and the next begins.</summary>
    public static readonly TimeSpan SliceBudget = TimeSpan.FromSeconds(30);

    private readonly ResiliencePipeline _retry = LoopRetry.Forever(TimeSpan.FromSeconds(1), (e, attempt, delay) =>
        logger.LogError(e, "Sink {Sink}: slice failed (attempt {Attempt}); retrying in {Delay}", runner.Name, attempt, delay));

    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
                await _retry.ExecuteAsync(async ct => await runner.RunSliceAsync(SliceBudget, ct), stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
