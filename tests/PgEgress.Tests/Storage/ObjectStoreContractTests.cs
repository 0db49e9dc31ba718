using System.Security.Cryptography;
using System.Text;
using PgEgress.Core.Storage;
using PgEgress.Core.Storage.AzureBlob;

namespace PgEgress.Tests.Storage;

/// <summary>
/// What every <see cref="IObjectStore"/> promises, run against each real implementation by a derived class:
/// the engine must behave the same on a local folder as on Azure Blob Storage.
/// </summary>
public abstract class ObjectStoreContractTests : IAsyncLifetime
{
    private IObjectStore? _store;

    protected IObjectStore Store => _store ?? throw new InvalidOperationException("The store is not created yet.");

    /// <summary>A new, empty store for one test.</summary>
    protected abstract Task<IObjectStore> CreateStoreAsync();

    public async Task InitializeAsync()
    {
        _store = await CreateStoreAsync();
        await _store.EnsureReadyAsync(default);
    }

    public virtual Task DisposeAsync()
    {
        (_store as IDisposable)?.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Put_then_read_returns_the_same_bytes()
    {
        await PutTextAsync("public.orders/20250101T000000Z/schema.yml", "table: public.orders\n");

        Assert.Equal("table: public.orders\n", await ReadTextAsync("public.orders/20250101T000000Z/schema.yml"));
    }

    [Fact]
    public async Task Put_replaces_the_whole_previous_object()
    {
        await PutTextAsync("a/object", "a longer first version");
        await PutTextAsync("a/object", "second");

        Assert.Equal("second", await ReadTextAsync("a/object"));
        Assert.Equal(["a/object"], await ListAsync(""));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(AzureBlobObjectStore.BlockSize - 1)] // the largest single Put Blob
    [InlineData(AzureBlobObjectStore.BlockSize)] // the smallest block upload: one full block
    [InlineData(AzureBlobObjectStore.BlockSize + 1)] // a full block and a one-byte block
    public async Task Objects_of_every_size_around_the_block_size_round_trip(int size)
    {
        await Store.PutAsync("sizes/object", new GeneratedStream(size), default);

        Assert.Equal(Sha256(new GeneratedStream(size)), await StoredSha256Async("sizes/object"));
    }

    [Fact]
    public async Task A_large_streamed_object_round_trips_byte_exactly()
    {
        const long size = (10L << 20) + 12_345; // more than two blocks, ending mid-block
        await Store.PutAsync("large/full_reload.csv.gz", new GeneratedStream(size, seed: 42), default);

        Assert.Equal(Sha256(new GeneratedStream(size, seed: 42)), await StoredSha256Async("large/full_reload.csv.gz"));
    }

    [Fact]
    public async Task A_put_whose_input_fails_leaves_the_previous_object_untouched()
    {
        await PutTextAsync("segments/0001", "committed");

        // Fails after more than one block, so a block upload has begun when it fails.
        var failing = new GeneratedStream(20L << 20, failAfter: 6L << 20);
        await Assert.ThrowsAsync<IOException>(() => Store.PutAsync("segments/0001", failing, default));

        Assert.Equal("committed", await ReadTextAsync("segments/0001"));
        Assert.Equal(["segments/0001"], await ListAsync(""));
    }

    [Fact]
    public async Task Reading_a_missing_object_returns_null()
    {
        Assert.Null(await Store.OpenReadAsync("missing", default));
        Assert.Null(await Store.OpenReadAsync("no/such/folder/missing", default));
    }

    [Fact]
    public async Task Delete_removes_the_object_and_a_missing_object_is_no_error()
    {
        await PutTextAsync("d/object", "x");

        await Store.DeleteAsync("d/object", default);
        await Store.DeleteAsync("d/object", default);
        await Store.DeleteAsync("no/such/folder/object", default);

        Assert.Null(await Store.OpenReadAsync("d/object", default));
        Assert.Empty(await ListAsync(""));
    }

    [Fact]
    public async Task A_prefix_of_other_objects_is_not_an_object()
    {
        await PutTextAsync("table/batch/file", "x");

        Assert.Null(await Store.OpenReadAsync("table/batch", default));
        await Store.DeleteAsync("table/batch", default);
        Assert.Equal(["table/batch/file"], await ListAsync(""));
    }

    [Fact]
    public async Task List_is_recursive_in_ordinal_order_and_filtered_by_prefix()
    {
        string[] paths = ["b/x", "a/b/c", "a/B", "a/b-", "a/b/d/e", "ab", "a.txt", "A"];
        foreach (var path in paths)
        {
            await PutTextAsync(path, path);
        }

        Assert.Equal(paths.Order(StringComparer.Ordinal), await ListAsync(""));
        Assert.Equal(["a/B", "a/b-", "a/b/c", "a/b/d/e"], await ListAsync("a/"));
        Assert.Equal(["a/b-", "a/b/c", "a/b/d/e"], await ListAsync("a/b")); // a partial last segment matches names
        Assert.Equal(["a/b/c", "a/b/d/e"], await ListAsync("a/b/"));
        Assert.Equal(["a.txt", "a/B", "a/b-", "a/b/c", "a/b/d/e", "ab"], await ListAsync("a"));
        Assert.Empty(await ListAsync("zzz/"));
        Assert.Empty(await ListAsync("a/b/c/"));
    }

    [Fact]
    public async Task Names_with_spaces_reserved_and_non_ascii_characters_round_trip()
    {
        string[] paths = ["odd names/a b+c=d%20e&f?g#h;i,j:k@l$m", "ünïcödé/日本語.csv", "x/~tilde'quote(paren)!"];
        foreach (var path in paths)
        {
            await PutTextAsync(path, path);
        }

        foreach (var path in paths)
        {
            Assert.Equal(path, await ReadTextAsync(path));
        }

        Assert.Equal(paths.Order(StringComparer.Ordinal), await ListAsync(""));
        Assert.Equal(["odd names/a b+c=d%20e&f?g#h;i,j:k@l$m"], await ListAsync("odd names/a b+"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/absolute")]
    [InlineData("..")]
    [InlineData("a/../b")]
    [InlineData("./a")]
    [InlineData("a/./b")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("a\\b")]
    [InlineData("dot./b")]
    [InlineData("a\u0001b")]
    public async Task Invalid_paths_are_rejected_before_any_io(string path)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.PutAsync(path, new MemoryStream([1]), default));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenReadAsync(path, default));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.DeleteAsync(path, default));
    }

    [Fact]
    public async Task A_path_longer_than_a_blob_name_may_be_is_rejected()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Store.PutAsync(new string('x', 1025), new MemoryStream(), default));
        Assert.Contains("1024", error.Message);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/a")]
    [InlineData("a/../")]
    [InlineData("a//")]
    [InlineData("a\\b")]
    public async Task Invalid_prefixes_are_rejected(string prefix)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => ListAsync(prefix));
    }

    [Fact]
    public async Task The_error_for_a_bad_path_says_what_is_wrong()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Store.PutAsync("a/../b", new MemoryStream(), default));
        Assert.Contains("'..'", error.Message);
        Assert.Contains("a/../b", error.Message);
    }

    [Fact]
    public async Task EnsureReady_can_run_again_on_a_ready_store()
    {
        await PutTextAsync("kept", "x");

        await Store.EnsureReadyAsync(default);

        Assert.Equal("x", await ReadTextAsync("kept"));
    }

    [Fact]
    public void Describe_names_the_store()
    {
        Assert.Matches("^(file|azureblob):.+", Store.Describe);
    }

    protected async Task PutTextAsync(string path, string text) =>
        await Store.PutAsync(path, new MemoryStream(Encoding.UTF8.GetBytes(text)), default);

    protected async Task<string> ReadTextAsync(string path)
    {
        await using var stream = await Store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    protected async Task<List<string>> ListAsync(string prefix)
    {
        var paths = new List<string>();
        await foreach (var path in Store.ListAsync(prefix, default))
        {
            paths.Add(path);
        }

        return paths;
    }

    protected async Task<string> StoredSha256Async(string path)
    {
        await using var stream = await Store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(stream));
    }

    protected static string Sha256(Stream content) => Convert.ToHexString(SHA256.HashData(content));
}
