using Azure.Core;
using Azure.Core.Pipeline;
using Microsoft.Extensions.Logging;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// Logs a warning for each attempt that fails in a way the SDK's retry policy treats as transient, so that storage
/// trouble is visible before it becomes a failure. Runs once per attempt (HttpPipelinePosition.PerRetry). The
/// logged path has no query string, so a SAS token is never written.
/// </summary>
internal sealed class RetryWarningPolicy(ILogger logger) : HttpPipelinePolicy
{
    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        try
        {
            await ProcessNextAsync(message, pipeline);
        }
        catch (Exception e)
        {
            Warn(message, e);
            throw;
        }

        Warn(message, null);
    }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        try
        {
            ProcessNext(message, pipeline);
        }
        catch (Exception e)
        {
            Warn(message, e);
            throw;
        }

        Warn(message, null);
    }

    private void Warn(HttpMessage message, Exception? failure)
    {
        if (failure is not null ? message.ResponseClassifier.IsRetriableException(failure) : message.ResponseClassifier.IsRetriableResponse(message))
        {
            logger.LogWarning(failure, "Azure Blob {Method} {Path} failed transiently ({Outcome}); the SDK retries it up to its limit.",
                message.Request.Method, message.Request.Uri.Path, failure?.GetType().Name ?? $"HTTP {message.Response.Status}");
        }
    }
}
