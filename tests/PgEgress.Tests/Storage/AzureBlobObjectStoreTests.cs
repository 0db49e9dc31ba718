using System.Net;
using System.Security.Cryptography;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Storage;
using PgEgress.Core.Storage.AzureBlob;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Storage;

/// <summary>
/// The contract on a real Azurite, plus what only Blob Storage has: paging, block uploads, the three kinds of
/// credentials, and the service's errors. Each test gets its own container.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureBlobObjectStoreTests(AzuriteFixture azurite) : ObjectStoreContractTests
{
    private readonly string _container = NewContainerName();

    protected override Task<IObjectStore> CreateStoreAsync() => Task.FromResult<IObjectStore>(Create(azurite.Server.ConnectionString, _container));

    [Fact]
    public async Task A_large_object_is_committed_as_four_MiB_blocks()
    {
        const long size = (10L << 20) + 7;
        await Store.PutAsync("large/object", new GeneratedStream(size), default);

        using var http = new HttpClient();
        var sas = AccountSas.Create(azurite.Server.AccountName, azurite.Server.AccountKey, "rl", TimeSpan.FromMinutes(5));
        var blockList = XDocument.Parse(await http.GetStringAsync(
            $"{azurite.Server.BlobEndpoint}/{_container}/large/object?comp=blocklist&blocklisttype=committed&{sas}"));
        var sizes = blockList.Descendants("Block").Select(b => long.Parse(b.Element("Size")!.Value)).ToList();
        Assert.Equal([4L << 20, 4L << 20, (2L << 20) + 7], sizes);
    }

    [Fact]
    public async Task The_input_is_read_at_most_the_blocks_in_flight_ahead_of_the_upload()
    {
        const int blockSize = AzureBlobObjectStore.BlockSize, inFlight = AzureBlobObjectStore.UploadConcurrency;
        const long size = 9L * blockSize + 5;
        var input = new GeneratedStream(size);
        var readWhenSent = new List<long>();
        long readWhenAllInFlight = -1;
        // No request is answered until as many blocks as may be in flight have arrived: until then the store has
        // no answer that would let it read another block, so what it has read then is all it may hold.
        using var allInFlight = new ManualResetEventSlim();
        await using var proxy = new FlakyProxy(azurite.Server.BlobEndpoint, n =>
        {
            lock (readWhenSent)
            {
                readWhenSent.Add(input.BytesRead);
                if (n == inFlight)
                {
                    readWhenAllInFlight = input.BytesRead;
                    allInFlight.Set();
                }
            }

            _ = allInFlight.Wait(TimeSpan.FromMinutes(1)); // on a timeout readWhenAllInFlight stays -1 and the test fails
            return false;
        });
        var store = Create(ConnectionStringFor(proxy.Endpoint), _container);

        await store.PutAsync("streamed/object", input, default);

        Assert.Equal((long)inFlight * blockSize, readWhenAllInFlight);
        // Ten Put Blocks, then Put Block List. When the n-th request arrives, at most n - 1 have been answered.
        Assert.Equal(11, readWhenSent.Count);
        for (var n = 1; n <= readWhenSent.Count; n++)
        {
            Assert.True(readWhenSent[n - 1] <= Math.Min(size, (n - 1L + inFlight) * blockSize),
                $"request {n} arrived with {readWhenSent[n - 1]} bytes of the input read");
        }

        Assert.Equal(size, readWhenSent[^1]);
    }

    [Fact]
    public async Task Transient_failures_are_retried_per_block_without_rewinding_the_input()
    {
        // Nine requests: three Put Blocks, the Put Block List and the Get Blob, and a retry for each of the four
        // failed ones. The blocks are staged in parallel, so which operation a failed request belongs to varies.
        await using var proxy = new FlakyProxy(azurite.Server.BlobEndpoint, request => request is 2 or 3 or 5 or 8);
        var log = new CapturedLog();
        using var loggers = LoggerFactory.Create(builder => builder.AddProvider(log));
        var store = Create(ConnectionStringFor(proxy.Endpoint), _container, loggers);
        const long size = (10L << 20) + 99;

        await store.PutAsync("flaky/object", new GeneratedStream(size, seed: 7), default);
        await using var read = await store.OpenReadAsync("flaky/object", default);

        Assert.Equal(4, proxy.Failures);
        var warnings = log.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).ToList();
        Assert.Equal(4, warnings.Count);
        Assert.All(warnings, w => Assert.Contains("failed transiently (HTTP 503)", w));
        Assert.Equal(Sha256(new GeneratedStream(size, seed: 7)), Convert.ToHexString(await SHA256.HashDataAsync(read!)));
    }

    [Fact]
    public async Task An_account_sas_connection_string_can_create_write_read_list_and_delete()
    {
        var sas = AccountSas.Create(azurite.Server.AccountName, azurite.Server.AccountKey, "rwdlac", TimeSpan.FromMinutes(5));
        var store = Create($"BlobEndpoint={azurite.Server.BlobEndpoint};SharedAccessSignature={sas}", NewContainerName());

        await store.EnsureReadyAsync(default);
        await store.PutAsync("sas/object", new GeneratedStream(5L << 20), default);
        await using (var read = await store.OpenReadAsync("sas/object", default))
        {
            Assert.Equal(Sha256(new GeneratedStream(5L << 20)), Convert.ToHexString(await SHA256.HashDataAsync(read!)));
        }

        Assert.Equal(["sas/object"], await store.ListAsync("sas/", default).ToListAsync());
        await store.DeleteAsync("sas/object", default);
        Assert.Null(await store.OpenReadAsync("sas/object", default));
    }

    [Fact]
    public async Task A_read_only_sas_is_ready_on_an_existing_container_but_cannot_write()
    {
        await PutTextAsync("existing", "x");
        var sas = AccountSas.Create(azurite.Server.AccountName, azurite.Server.AccountKey, "rl", TimeSpan.FromMinutes(5));
        var store = Create($"BlobEndpoint={azurite.Server.BlobEndpoint};SharedAccessSignature={sas}", _container);

        await store.EnsureReadyAsync(default);
        var error = await Assert.ThrowsAsync<BlobRequestException>(() => store.PutAsync("new", new MemoryStream([1]), default));

        Assert.Equal(HttpStatusCode.Forbidden, error.Status);
        Assert.Equal("AuthorizationPermissionMismatch", error.ErrorCode);
        Assert.Equal(["existing"], await store.ListAsync("", default).ToListAsync());
    }

    [Fact]
    public async Task A_wrong_account_key_fails_with_a_clear_403_that_does_not_show_the_key()
    {
        var wrongKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        var store = Create(
            $"DefaultEndpointsProtocol=http;AccountName={azurite.Server.AccountName};AccountKey={wrongKey};BlobEndpoint={azurite.Server.BlobEndpoint}",
            _container);

        var error = await Assert.ThrowsAsync<BlobRequestException>(() => store.EnsureReadyAsync(default));

        Assert.Equal(HttpStatusCode.Forbidden, error.Status);
        // Azure answers a bad signature with AuthenticationFailed; Azurite (3.37) with AuthorizationFailure.
        Assert.Contains(error.ErrorCode, new[] { "AuthenticationFailed", "AuthorizationFailure" });
        Assert.Contains("Create Container", error.Message);
        Assert.Contains($"HTTP 403 Forbidden, error code {error.ErrorCode}", error.Message);
        Assert.Contains("Server failed to authenticate the request", error.Message);
        Assert.Contains("Check the account key", error.Message);
        Assert.DoesNotContain(wrongKey[..12], error.ToString());
    }

    [Fact]
    public async Task A_sas_with_a_wrong_signature_fails_with_a_clear_403_that_does_not_show_the_signature()
    {
        var wrongKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        var sas = AccountSas.Create(azurite.Server.AccountName, wrongKey, "rwdlac", TimeSpan.FromMinutes(5));
        var signature = Uri.UnescapeDataString(sas[(sas.IndexOf("&sig=", StringComparison.Ordinal) + 5)..]);
        var store = Create($"BlobEndpoint={azurite.Server.BlobEndpoint};SharedAccessSignature={sas}", _container);

        var ready = await Assert.ThrowsAsync<BlobRequestException>(() => store.EnsureReadyAsync(default));
        var put = await Assert.ThrowsAsync<BlobRequestException>(() => store.PutAsync("x", new MemoryStream([1]), default));

        foreach (var error in new[] { ready, put })
        {
            Assert.Equal(HttpStatusCode.Forbidden, error.Status);
            Assert.Contains("Check the account key, or the SAS token's expiry", error.Message);
            Assert.DoesNotContain(signature[..12], error.ToString());
            Assert.DoesNotContain(Uri.EscapeDataString(signature)[..12], error.ToString());
        }
    }

    [Fact]
    public async Task An_endpoint_that_never_answers_fails_with_a_blob_request_exception_after_the_retries()
    {
        // A port that was free a moment ago: every attempt is refused, so the SDK's retries are spent.
        string endpoint;
        using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            endpoint = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/{azurite.Server.AccountName}";
        }

        var store = Create(ConnectionStringFor(endpoint), _container);

        var error = await Assert.ThrowsAsync<BlobRequestException>(() => store.PutAsync("a/b.csv", new MemoryStream([1]), default));

        Assert.Null(error.Status);
        Assert.Contains("Upload Blob", error.Message);
        Assert.Contains("no response", error.Message);
    }

    [Fact]
    public async Task Writing_to_a_missing_container_names_the_operation_path_status_and_error_code()
    {
        var store = Create(azurite.Server.ConnectionString, NewContainerName());

        var error = await Assert.ThrowsAsync<BlobRequestException>(() => store.PutAsync("a/b.csv", new MemoryStream([1]), default));

        Assert.Equal(HttpStatusCode.NotFound, error.Status);
        Assert.Contains("Upload Blob", error.Message);
        Assert.Contains("a/b.csv", error.Message);
        Assert.Contains("404", error.Message);
        Assert.Contains("ContainerNotFound", error.Message);
    }

    [Fact]
    public void Describe_names_the_account_and_container()
    {
        Assert.Equal($"azureblob:devstoreaccount1/{_container}", Store.Describe);
    }

    private static IObjectStore Create(string connectionString, string container, ILoggerFactory? loggers = null) =>
        ObjectStoreFactory.Create(new StorageOptions
        {
            Kind = StorageKind.AzureBlob,
            ConnectionString = connectionString,
            Container = container,
        }, loggers);

    private string ConnectionStringFor(string blobEndpoint) =>
        $"DefaultEndpointsProtocol=http;AccountName={azurite.Server.AccountName};AccountKey={azurite.Server.AccountKey};BlobEndpoint={blobEndpoint}";

    private static string NewContainerName() => "t" + Guid.NewGuid().ToString("N");
}
