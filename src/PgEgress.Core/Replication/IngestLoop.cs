using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using PgEgress.Core.Health;

namespace PgEgress.Core.Replication;

/// <summary>
/// The self-hosted ingest: slice after slice until stopped. A failed slice (connection lost, slot still held by a
/// dying predecessor, store unreachable) is retried with capped exponential backoff; what was staged is never lost,
/// because the slot is only acknowledged after staging.
/// </summary>
public sealed class IngestLoop(SliceConsumer consumer, IngestProgress progress, ILogger<IngestLoop> logger)
{
    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(500),
            MaxDelay = TimeSpan.FromSeconds(30),
            OnRetry = args =>
            {
                progress.Failed(args.Outcome.Exception!.Message);
                logger.LogError(args.Outcome.Exception, "Slice failed (attempt {Attempt}); retrying in {Delay}", args.AttemptNumber + 1, args.RetryDelay);
                return default;
            },
        })
        .Build();

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
