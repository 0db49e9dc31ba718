using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace PgEgress.Core.Sinks;

/// <summary>The self-hosted delivery of one sink: slice after slice until stopped; a failed slice is retried with capped backoff.</summary>
public sealed class SinkLoop(ISinkRunner runner, ILogger logger)
{
    /// <summary>How long one slice delivers before its cursor is written and the next begins.</summary>
    public static readonly TimeSpan SliceBudget = TimeSpan.FromSeconds(30);

    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(30),
            OnRetry = args =>
            {
                logger.LogError(args.Outcome.Exception, "Sink {Sink}: slice failed (attempt {Attempt}); retrying in {Delay}", runner.Name, args.AttemptNumber + 1, args.RetryDelay);
                return default;
            },
        })
        .Build();

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
