using Polly;
using Polly.Retry;

namespace PgEgress.Core.Pipeline;

/// <summary>
/// The retry of the self-hosted loops (ingest, sinks): anything but cancellation, forever, with capped exponential
/// backoff and jitter; a permanent failure (<see cref="FailureClassifier"/>) waits longer, up to <c>permanentMaxDelay</c>,
/// since only an operator cures it and hammering the source or the endpoint meanwhile helps nobody.
/// </summary>
public static class LoopRetry
{
    public static ResiliencePipeline Forever(TimeSpan firstDelay, TimeSpan permanentMaxDelay, Action<Exception, int, TimeSpan> onRetry) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = firstDelay,
            MaxDelay = TimeSpan.FromSeconds(30),
            DelayGenerator = args => new ValueTask<TimeSpan?>(args.Outcome.Exception is { } e && FailureClassifier.Classify(e) == FailureKind.Permanent
                ? FailureClassifier.PermanentDelay(args.AttemptNumber, permanentMaxDelay)
                : null),
            OnRetry = args =>
            {
                onRetry(args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay);
                return default;
            },
        })
        .Build();
}
