using System.Buffers;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Polly;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// Objects as block blobs in one container, over the Blob service REST API. An object under 4 MiB is one
/// Put Blob; a larger one is streamed as 4 MiB Put Blocks and committed by one Put Block List, so a reader
/// sees either the old blob or the whole new one, and memory holds one block whatever the object's size.
/// Every request is retried on transient failures; a block is retried from its buffer, so a consumed
/// input stream never needs to rewind.
/// </summary>
public sealed class AzureBlobObjectStore : IObjectStore, IDisposable
{
    internal const string ApiVersion = "2021-08-06";
    internal const int BlockSize = 4 << 20;

    private readonly HttpClient _http;
    private readonly string _containerUrl;
    private readonly string _account;
    private readonly string _container;
    private readonly IBlobAuthenticator _authenticator;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    internal AzureBlobObjectStore(Uri blobEndpoint, string account, string container, IBlobAuthenticator authenticator, ILogger logger)
    {
        _containerUrl = $"{blobEndpoint.AbsoluteUri.TrimEnd('/')}/{container}";
        _account = account;
        _container = container;
        _authenticator = authenticator;
        _retry = BlobRetryPipeline.Create(logger);
        // Connections are recycled so that a changed DNS record (failover) is picked up.
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
    }

    public string Describe => $"azureblob:{_account}/{_container}";

    /// <summary>List Blobs page size (the service's maximum is 5000); tests lower it to exercise paging.</summary>
    internal int ListPageSize { get; set; } = 5000;

    public async Task PutAsync(string path, Stream content, CancellationToken ct)
    {
        ObjectPath.Validate(path);
        ArgumentNullException.ThrowIfNull(content);
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            var filled = await content.ReadAtLeastAsync(buffer.AsMemory(0, BlockSize), BlockSize, throwOnEndOfStream: false, ct);
            if (filled < BlockSize)
            {
                await PutBlobAsync(path, buffer.AsMemory(0, filled), ct);
                return;
            }

            var blocks = new BlockList();
            do
            {
                await PutBlockAsync(path, blocks.Add(), buffer.AsMemory(0, filled), ct);
                filled = await content.ReadAtLeastAsync(buffer.AsMemory(0, BlockSize), BlockSize, throwOnEndOfStream: false, ct);
            }
            while (filled > 0);

            var body = blocks.ToXml();
            using var response = await SendAsync("Put Block List", path, ct, () =>
                new HttpRequestMessage(HttpMethod.Put, BlobUri(path, "comp=blocklist")) { Content = new ByteArrayContent(body) });
            await EnsureSuccessAsync(response, "Put Block List", path, ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async Task<Stream?> OpenReadAsync(string path, CancellationToken ct)
    {
        ObjectPath.Validate(path);
        // Headers only: the body is streamed to the caller as it reads.
        var response = await SendAsync("Get Blob", path, ct, () => new HttpRequestMessage(HttpMethod.Get, BlobUri(path)),
            HttpCompletionOption.ResponseHeadersRead);
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                response.Dispose();
                return null;
            }

            await EnsureSuccessAsync(response, "Get Blob", path, ct);
            return new ResponseStream(response, await response.Content.ReadAsStreamAsync(ct));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        ObjectPath.ValidatePrefix(prefix);
        string? marker = null;
        do
        {
            var page = await ListPageAsync(prefix, marker, ListPageSize, ct);
            foreach (var name in page.Names)
            {
                yield return name;
            }

            marker = page.NextMarker;
        }
        while (marker is not null);
    }

    public async Task DeleteAsync(string path, CancellationToken ct)
    {
        ObjectPath.Validate(path);
        using var response = await SendAsync("Delete Blob", path, ct, () => new HttpRequestMessage(HttpMethod.Delete, BlobUri(path)));
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, "Delete Blob", path, ct);
        }
    }

    public async Task EnsureReadyAsync(CancellationToken ct)
    {
        using var response = await SendAsync("Create Container", "", ct, () =>
            new HttpRequestMessage(HttpMethod.Put, $"{_containerUrl}?restype=container") { Content = new ByteArrayContent([]) });
        if (response.IsSuccessStatusCode || ErrorCode(response) == "ContainerAlreadyExists")
        {
            return;
        }

        if (response.StatusCode == HttpStatusCode.Forbidden)
        {
            // A SAS scoped to the container may not create it; it is enough that the container can be listed.
            try
            {
                await ListPageAsync("", null, 1, ct);
                return;
            }
            catch (BlobRequestException)
            {
                // Report the create failure: it says why the container is unusable.
            }
        }

        await EnsureSuccessAsync(response, "Create Container", "", ct);
    }

    public void Dispose() => _http.Dispose();

    private async Task PutBlobAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        using var response = await SendAsync("Put Blob", path, ct, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, BlobUri(path)) { Content = new ReadOnlyMemoryContent(content) };
            request.Headers.Add("x-ms-blob-type", "BlockBlob");
            return request;
        });
        await EnsureSuccessAsync(response, "Put Blob", path, ct);
    }

    private async Task PutBlockAsync(string path, string blockId, ReadOnlyMemory<byte> block, CancellationToken ct)
    {
        using var response = await SendAsync("Put Block", path, ct, () =>
            new HttpRequestMessage(HttpMethod.Put, BlobUri(path, $"comp=block&blockid={Uri.EscapeDataString(blockId)}"))
            {
                Content = new ReadOnlyMemoryContent(block),
            });
        await EnsureSuccessAsync(response, "Put Block", path, ct);
    }

    private async Task<BlobListPage> ListPageAsync(string prefix, string? marker, int pageSize, CancellationToken ct)
    {
        var query = $"restype=container&comp=list&maxresults={pageSize.ToString(CultureInfo.InvariantCulture)}";
        if (prefix.Length > 0)
        {
            query += $"&prefix={Uri.EscapeDataString(prefix)}";
        }

        if (marker is not null)
        {
            query += $"&marker={Uri.EscapeDataString(marker)}";
        }

        using var response = await SendAsync("List Blobs", prefix, ct, () => new HttpRequestMessage(HttpMethod.Get, $"{_containerUrl}?{query}"));
        await EnsureSuccessAsync(response, "List Blobs", prefix, ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        return await BlobListPage.ParseAsync(body, ct);
    }

    /// <summary>Sends a request built afresh, stamped and authorized for each attempt (a request message cannot be sent twice).</summary>
    private async Task<HttpResponseMessage> SendAsync(string operation, string path, CancellationToken ct, Func<HttpRequestMessage> build,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var context = ResilienceContextPool.Shared.Get(ct);
        context.Properties.Set(BlobRetryPipeline.Attempting, $"Azure Blob {operation} on '{Target(path)}'");
        try
        {
            return await _retry.ExecuteAsync(async attempt =>
            {
                using var request = build();
                request.Headers.Add("x-ms-version", ApiVersion);
                request.Headers.Add("x-ms-date", DateTimeOffset.UtcNow.ToString("R", CultureInfo.InvariantCulture));
                await _authenticator.AuthorizeAsync(request, attempt.CancellationToken);
                return await _http.SendAsync(request, completion, attempt.CancellationToken);
            }, context);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string operation, string path, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        throw new BlobRequestException(operation, Target(path), response.StatusCode, ErrorCode(response), await ServiceMessageAsync(response, ct));
    }

    private static string? ErrorCode(HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-ms-error-code", out var values) ? values.FirstOrDefault() : null;

    /// <summary>
    /// The first line of the error body's Message (the rest is a request id and a time). The body's other
    /// elements are left out: AuthenticationErrorDetail quotes the signed string.
    /// </summary>
    private static async Task<string?> ServiceMessageAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            var message = body.Length == 0 ? null : XDocument.Parse(body).Root?.Element("Message")?.Value;
            return message?.Split('\n')[0].Trim();
        }
        catch (System.Xml.XmlException)
        {
            return null;
        }
    }

    private string Target(string path) => path.Length == 0 ? $"{_account}/{_container}" : $"{_account}/{_container}/{path}";

    private string BlobUri(string path, string? query = null)
    {
        var escaped = string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
        return query is null ? $"{_containerUrl}/{escaped}" : $"{_containerUrl}/{escaped}?{query}";
    }
}
