using System.Net.Http.Headers;
using Azure.Core;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// A Microsoft Entra bearer token (managed identity, workload identity, Azure CLI, … via Azure.Identity).
/// The token is reused until five minutes before it expires, so requests do not each ask the credential.
/// </summary>
internal sealed class TokenAuthenticator : IBlobAuthenticator
{
    private static readonly TokenRequestContext StorageScope = new(["https://storage.azure.com/.default"]);
    private static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);

    private readonly TokenCredential _credential;
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile CachedToken? _current;

    public TokenAuthenticator(TokenCredential credential) => _credential = credential;

    public async ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var token = _current;
        if (token is null || token.IsStale)
        {
            await _refresh.WaitAsync(ct);
            try
            {
                token = _current;
                if (token is null || token.IsStale)
                {
                    var fresh = await _credential.GetTokenAsync(StorageScope, ct);
                    _current = token = new CachedToken(fresh.Token, fresh.ExpiresOn - RefreshMargin);
                }
            }
            finally
            {
                _refresh.Release();
            }
        }

        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Value);
    }

    /// <summary>A class, not the AccessToken struct, so that threads swap it atomically.</summary>
    private sealed class CachedToken(string value, DateTimeOffset refreshAt)
    {
        public string Value { get; } = value;

        public bool IsStale => DateTimeOffset.UtcNow >= refreshAt;
    }
}
