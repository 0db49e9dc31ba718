using System.Net;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// Retries the failures that Azure Storage documents as transient (5xx, 408, 429) and the ones the network
/// causes (connection errors, timeouts), with exponential backoff and jitter. Each attempt sends a newly built
/// and newly signed request; the discarded responses are disposed by Polly.
/// </summary>
internal static class BlobRetryPipeline
{
    /// <summary>What is being attempted ("Put Block on 'account/container/path'"), for the retry log.</summary>
    public static readonly ResiliencePropertyKey<string> Attempting = new("pgegress.blob.attempting");

    public static ResiliencePipeline<HttpResponseMessage> Create(ILogger logger) =>
        new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<IOException>()
                    // HttpClient.Timeout surfaces as a cancellation whose inner exception is a TimeoutException.
                    .Handle<TaskCanceledException>(e => e.InnerException is TimeoutException)
                    .HandleResult(r => IsTransient(r.StatusCode)),
                MaxRetryAttempts = 4,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(500),
                MaxDelay = TimeSpan.FromSeconds(15),
                OnRetry = args =>
                {
                    var what = args.Context.Properties.GetValue(Attempting, "Azure Blob request");
                    var outcome = args.Outcome.Exception is { } e ? e.GetType().Name : $"HTTP {(int)args.Outcome.Result!.StatusCode}";
                    logger.LogWarning(args.Outcome.Exception, "{What} failed transiently ({Outcome}); retry {Retry} in {Delay}.",
                        what, outcome, args.AttemptNumber + 1, args.RetryDelay);
                    return default;
                },
            })
            .Build();

    private static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}
