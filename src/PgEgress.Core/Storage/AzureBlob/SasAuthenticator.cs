namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>A shared access signature: the token goes into the query string of every request.</summary>
internal sealed class SasAuthenticator : IBlobAuthenticator
{
    private readonly string _token;

    public SasAuthenticator(string token) => _token = token.TrimStart('?');

    public ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var uri = request.RequestUri!;
        var separator = uri.Query.Length > 0 ? "&" : "?";
        request.RequestUri = new Uri(uri.AbsoluteUri + separator + _token);
        return ValueTask.CompletedTask;
    }
}
