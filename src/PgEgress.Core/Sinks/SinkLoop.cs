using Microsoft.Extensions.Logging;
using Polly;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Sinks;

/// <summary>
/// The self-hosted delivery of one sink: slice after slice until stopped; a failed slice is retried with capped backoff,
/// longer for a permanent failure (target login refused, privilege missing), which is logged once per change.
/// </summary>
public sealed class SinkLoop(ISinkRunner runner, HealthOptions health, ILogger logger)
{
    /// <summary>How long one slice delivers before its cursor is written and the next begins.</summary>
    public static readonly TimeSpan SliceBudget = TimeSpan.FromSeconds(30);

    private ResiliencePipeline? _retry;
    private string? _loggedPermanent;

    private ResiliencePipeline Retry => _retry ??= LoopRetry.Forever(TimeSpan.FromSeconds(1), health.PermanentRetryMaxDelay, (e, attempt, delay) =>
    {
        if (FailureClassifier.Classify(e) == FailureKind.Transient)
        {
            _loggedPermanent = null;
            logger.LogError(e, "Sink {Sink}: slice failed (attempt {Attempt}); retrying in {Delay}", runner.Name, attempt, delay);
        }
        else if (_loggedPermanent != e.Message)
        {
            _loggedPermanent = e.Message;
            logger.LogError(e, "Sink {Sink}: slice failed permanently (attempt {Attempt}): {Reason}; retrying in {Delay}, less often after, until it is fixed",
                runner.Name, attempt, e.Message, delay);
        }
    });

    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
                await Retry.ExecuteAsync(async ct => await runner.RunSliceAsync(SliceBudget, ct), stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
