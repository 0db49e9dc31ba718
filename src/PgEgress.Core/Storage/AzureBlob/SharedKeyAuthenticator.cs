using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// Shared Key authorization: an HMAC-SHA256, keyed with the account key, of a canonical form of the request
/// ("Authorize with Shared Key" in the Azure Storage REST reference, version 2009-09-19 and later).
/// </summary>
internal sealed class SharedKeyAuthenticator : IBlobAuthenticator
{
    private readonly string _accountName;
    private readonly byte[] _key;

    public SharedKeyAuthenticator(string accountName, byte[] key)
    {
        _accountName = accountName;
        _key = key;
    }

    public ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var signature = Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(StringToSign(request))));
        request.Headers.Authorization = new AuthenticationHeaderValue("SharedKey", $"{_accountName}:{signature}");
        return ValueTask.CompletedTask;
    }

    private string StringToSign(HttpRequestMessage request)
    {
        var content = request.Content?.Headers;
        var length = content?.ContentLength;
        var builder = new StringBuilder()
            .Append(request.Method.Method).Append('\n')
            .Append(Value(content, "Content-Encoding")).Append('\n')
            .Append(Value(content, "Content-Language")).Append('\n')
            // Since version 2015-02-21 a zero length is signed as an empty string.
            .Append(length is null or 0 ? "" : length.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n')
            .Append(Value(content, "Content-MD5")).Append('\n')
            .Append(Value(content, "Content-Type")).Append('\n')
            .Append(Value(request.Headers, "Date")).Append('\n')
            .Append(Value(request.Headers, "If-Modified-Since")).Append('\n')
            .Append(Value(request.Headers, "If-Match")).Append('\n')
            .Append(Value(request.Headers, "If-None-Match")).Append('\n')
            .Append(Value(request.Headers, "If-Unmodified-Since")).Append('\n')
            .Append(Value(request.Headers, "Range")).Append('\n');
        AppendCanonicalizedHeaders(builder, request.Headers);
        AppendCanonicalizedResource(builder, request.RequestUri!);
        return builder.ToString();
    }

    private static string Value(HttpHeaders? headers, string name) =>
        headers is not null && headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    /// <summary>Every x-ms-* header, lowercase name, sorted, "name:value\n".</summary>
    private static void AppendCanonicalizedHeaders(StringBuilder builder, HttpRequestHeaders headers)
    {
        var msHeaders = headers
            .Where(h => h.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            .Select(h => (Name: h.Key.ToLowerInvariant(), Value: string.Join(",", h.Value.Select(v => v.Trim()))))
            .OrderBy(h => h.Name, StringComparer.Ordinal);
        foreach (var (name, value) in msHeaders)
        {
            builder.Append(name).Append(':').Append(value).Append('\n');
        }
    }

    /// <summary>
    /// "/account" + the encoded URI path, then each query parameter as "\nname:value" (lowercase names, sorted,
    /// decoded values, repeated values sorted and comma-joined). With a path-style endpoint (Azurite) the path
    /// already starts with the account, which is then there twice, as the emulator expects.
    /// </summary>
    private void AppendCanonicalizedResource(StringBuilder builder, Uri uri)
    {
        builder.Append('/').Append(_accountName).Append(uri.AbsolutePath);
        var query = uri.Query.TrimStart('?');
        if (query.Length == 0)
        {
            return;
        }

        var parameters = query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .Select(kv => (Name: Uri.UnescapeDataString(kv[0]).ToLowerInvariant(), Value: kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : ""))
            .GroupBy(p => p.Name, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal);
        foreach (var parameter in parameters)
        {
            var values = parameter.Select(p => p.Value).Order(StringComparer.Ordinal);
            builder.Append('\n').Append(parameter.Key).Append(':').AppendJoin(',', values);
        }
    }
}
