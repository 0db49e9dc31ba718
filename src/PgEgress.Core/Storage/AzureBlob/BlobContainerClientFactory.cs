using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// The SDK's container client for the storage settings: from a connection string (account key, SAS or
/// UseDevelopmentStorage=true), or from an account URL and a token credential. Configuration errors name the
/// setting but never repeat its value, which may hold a key or a SAS token.
/// </summary>
internal static class BlobContainerClientFactory
{
    /// <exception cref="ArgumentException">The settings cannot work; the message says which one and why.</exception>
    public static BlobContainerClient Create(StorageOptions options, ILogger logger, TokenCredential? credential)
    {
        if (ContainerName.Problem(options.Container) is { } problem)
        {
            throw new ArgumentException($"PgEgress:Storage:Container '{options.Container}' is not a valid container name: {problem}.");
        }

        var clientOptions = ClientOptions(logger);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            BlobServiceClient service;
            try
            {
                service = new BlobServiceClient(options.ConnectionString, clientOptions);
            }
            catch (FormatException e)
            {
                // The SDK's parse errors name no values, so its message is safe to pass on; the SDK exception is not
                // kept as the inner exception all the same, in case a later version quotes the string.
                throw new ArgumentException(
                    $"PgEgress:Storage:ConnectionString is invalid: {e.Message} Expected an account key string " +
                    "(AccountName=…;AccountKey=…), a SAS string (BlobEndpoint=…;SharedAccessSignature=…) or UseDevelopmentStorage=true.");
            }

            return service.GetBlobContainerClient(options.Container);
        }

        if (!string.IsNullOrWhiteSpace(options.AccountUrl))
        {
            // The service accepts bearer tokens over HTTPS only; say so now rather than with a 403 later.
            if (!Uri.TryCreate(options.AccountUrl.TrimEnd('/'), UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps || url.Query.Length > 0)
            {
                // Not echoed: a URL pasted with a SAS query would print the token.
                throw new ArgumentException(
                    "PgEgress:Storage:AccountUrl is not an https URL without a query string, such as https://myaccount.blob.core.windows.net.");
            }

            return new BlobServiceClient(url, credential ?? new DefaultAzureCredential(), clientOptions)
                .GetBlobContainerClient(options.Container);
        }

        throw new ArgumentException(
            "Kind=AzureBlob needs PgEgress:Storage:ConnectionString (account key, SAS or UseDevelopmentStorage=true) " +
            "or PgEgress:Storage:AccountUrl (with a managed identity or another Azure.Identity credential).");
    }

    private static BlobClientOptions ClientOptions(ILogger logger)
    {
        var options = new BlobClientOptions();
        // Azure Storage's transient failures (5xx, 408, 429, connection errors, timeouts) are retried with
        // exponential backoff and jitter: about 0.5, 1, 2 and 4 s, capped at 15 s, so an operation gives up after
        // five attempts, within about half a minute of waiting, plus the attempts themselves.
        options.Retry.Mode = Azure.Core.RetryMode.Exponential;
        options.Retry.MaxRetries = 4;
        options.Retry.Delay = TimeSpan.FromMilliseconds(500);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(15);
        // Per attempt, and per read of a downloaded body: long enough for a 4 MiB block on a slow link, short
        // enough that a hung connection is abandoned and retried rather than stalling a flush.
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(100);
        options.AddPolicy(new RetryWarningPolicy(logger), HttpPipelinePosition.PerRetry);
        return options;
    }
}
