namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// Adds the credentials to a request that is otherwise complete (every x-ms-* header set), just before it is sent.
/// Called once per attempt: a Shared Key signature covers x-ms-date, so a retried request is signed again.
/// </summary>
internal interface IBlobAuthenticator
{
    ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct);
}
