using System.Net;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// A Blob service request that failed for good (not transient, or still failing after the retries). The message
/// names the operation, the target, the HTTP status and the service's x-ms-error-code; never a key or a token.
/// </summary>
public sealed class BlobRequestException : IOException
{
    public BlobRequestException(string operation, string target, HttpStatusCode status, string? errorCode, string? serviceMessage)
        : base(Format(operation, target, status, errorCode, serviceMessage))
    {
        Operation = operation;
        Target = target;
        Status = status;
        ErrorCode = errorCode;
    }

    /// <summary>The REST operation, e.g. "Put Block List".</summary>
    public string Operation { get; }

    /// <summary>"account/container" or "account/container/path".</summary>
    public string Target { get; }

    public HttpStatusCode Status { get; }

    /// <summary>The x-ms-error-code the service returned (e.g. "AuthenticationFailed"), when it returned one.</summary>
    public string? ErrorCode { get; }

    private static string Format(string operation, string target, HttpStatusCode status, string? errorCode, string? serviceMessage)
    {
        var message = $"Azure Blob {operation} on '{target}' failed: HTTP {(int)status} {status}, error code {errorCode ?? "(none)"}.";
        if (!string.IsNullOrWhiteSpace(serviceMessage))
        {
            message += " " + serviceMessage;
        }

        return status == HttpStatusCode.Forbidden
            ? message + " Check the account key, or the SAS token's expiry and permissions, or the identity's role on the container."
            : message;
    }
}
