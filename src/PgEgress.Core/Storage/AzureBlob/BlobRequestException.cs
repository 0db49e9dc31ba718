using System.Net;
using Azure;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// A Blob service request that failed for good (not transient, or still failing after the SDK's retries). The message
/// names the operation, the target, the HTTP status and the service's x-ms-error-code, and the first line of the
/// service's message; never a key or a token. The SDK's exception is deliberately not kept as the inner exception:
/// its message quotes the error body, whose AuthenticationErrorDetail repeats the signed request.
/// </summary>
public sealed class BlobRequestException : IOException
{
    private BlobRequestException(string operation, string target, HttpStatusCode? status, string? errorCode, string detail)
        : base(Format(operation, target, status, errorCode, detail))
    {
        Operation = operation;
        Target = target;
        Status = status;
        ErrorCode = errorCode;
    }

    /// <summary>The operation, e.g. "Upload Blob".</summary>
    public string Operation { get; }

    /// <summary>"account/container" or "account/container/path".</summary>
    public string Target { get; }

    /// <summary>The HTTP status, or null when no response came (the network failed on every attempt).</summary>
    public HttpStatusCode? Status { get; }

    /// <summary>The x-ms-error-code the service returned (e.g. "AuthenticationFailed"), when it returned one.</summary>
    public string? ErrorCode { get; }

    /// <summary>
    /// The store's exception for a failure of the SDK: a service error, or the SDK's AggregateException once its
    /// retries are spent; null for anything else (a failing input stream, a cancellation), which passes unchanged.
    /// </summary>
    internal static BlobRequestException? Translate(string operation, string target, Exception failure) => failure switch
    {
        RequestFailedException { Status: > 0 } e => new BlobRequestException(
            operation, target, (HttpStatusCode)e.Status, e.ErrorCode, FirstLine(e.Message)),
        RequestFailedException e => new BlobRequestException(operation, target, null, null, FirstLine(e.Message)),
        AggregateException e when e.InnerExceptions.LastOrDefault() is RequestFailedException last =>
            Translate(operation, target, last),
        AggregateException e => new BlobRequestException(
            operation, target, null, null, $"No answer after retrying: {FirstLine(e.InnerExceptions.LastOrDefault()?.Message ?? e.Message)}"),
        _ => null,
    };

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    private static string Format(string operation, string target, HttpStatusCode? status, string? errorCode, string detail)
    {
        var outcome = status is { } s ? $"HTTP {(int)s} {s}, error code {errorCode ?? "(none)"}" : "no response";
        var message = $"Azure Blob {operation} on '{target}' failed: {outcome}.";
        if (detail.Length > 0)
        {
            message += " " + detail;
        }

        return status == HttpStatusCode.Forbidden
            ? message + " Check the account key, or the SAS token's expiry and permissions, or the identity's role on the container."
            : message;
    }
}
