using Polly;
using Polly.Retry;

namespace PgEgress.Core.Pipeline;

/// <summary>The retry of the self-hosted loops (ingest, sinks): anything but cancellation, forever, with capped exponential backoff and jitter.</summary>
public static class LoopRetry
{
    public static ResiliencePipeline Forever(TimeSpan firstDelay, Action<Exception, int, TimeSpan> onRetry) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = firstDelay,
            MaxDelay = TimeSpan.FromSeconds(30),
            OnRetry = args =>
            {
                onRetry(args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay);
                return default;
            },
        })
        .Build();
}
