using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// <see cref="IObjectStore"/> over Azure.Storage.Blobs, one container. An upload of unknown length or of more than
/// one block is staged as blocks and committed by one block list, so a reader sees the old blob or the whole new one.
/// The SDK buffers each block it stages, so a retried block never needs the input to rewind. Failures that survive
/// the SDK's retries become a <see cref="BlobRequestException"/>, whose message carries no key or signature.
/// </summary>
public sealed class AzureBlobObjectStore : IObjectStore
{
    internal const int BlockSize = 4 << 20;

    /// <summary>
    /// Blocks staged at once. The SDK buffers each block in flight, so one upload holds at most
    /// <c>UploadConcurrency × BlockSize</c> (16 MiB) of the input, whatever the object's size.
    /// </summary>
    internal const int UploadConcurrency = 4;

    private static readonly StorageTransferOptions Transfer = new()
    {
        // A known-length input under one block goes as one Put Blob; anything else is staged in blocks.
        InitialTransferSize = BlockSize,
        MaximumTransferSize = BlockSize,
        MaximumConcurrency = UploadConcurrency,
    };

    private readonly BlobContainerClient _container;

    internal AzureBlobObjectStore(BlobContainerClient container) => _container = container;

    public string Describe => $"azureblob:{_container.AccountName}/{_container.Name}";

    public async Task PutAsync(string path, Stream content, CancellationToken ct)
    {
        ObjectPath.Validate(path);
        ArgumentNullException.ThrowIfNull(content);
        try
        {
            await _container.GetBlobClient(path).UploadAsync(content, new BlobUploadOptions { TransferOptions = Transfer }, ct);
        }
        catch (Exception e) when (BlobRequestException.Translate("Upload Blob", Target(path), e) is { } failure)
        {
            throw failure;
        }
    }

    public async Task<Stream?> OpenReadAsync(string path, CancellationToken ct)
    {
        ObjectPath.Validate(path);
        try
        {
            // Streamed to the caller as it reads; the SDK resumes an interrupted body from where it stopped.
            var download = await _container.GetBlobClient(path).DownloadStreamingAsync(cancellationToken: ct);
            return download.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        catch (Exception e) when (BlobRequestException.Translate("Get Blob", Target(path), e) is { } failure)
        {
            throw failure;
        }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        ObjectPath.ValidatePrefix(prefix);
        await using var blobs = _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix.Length == 0 ? null : prefix, ct)
            .GetAsyncEnumerator(ct);
        while (await NextAsync(blobs, prefix))
        {
            yield return blobs.Current.Name;
        }
    }

    public async Task DeleteAsync(string path, CancellationToken ct)
    {
        ObjectPath.Validate(path);
        try
        {
            await _container.GetBlobClient(path).DeleteIfExistsAsync(cancellationToken: ct);
        }
        catch (Exception e) when (BlobRequestException.Translate("Delete Blob", Target(path), e) is { } failure)
        {
            throw failure;
        }
    }

    public async Task EnsureReadyAsync(CancellationToken ct)
    {
        RequestFailedException createFailure;
        try
        {
            await _container.CreateIfNotExistsAsync(cancellationToken: ct);
            return;
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            createFailure = e;
        }
        catch (Exception e) when (BlobRequestException.Translate("Create Container", Target(""), e) is { } failure)
        {
            throw failure;
        }

        // A SAS scoped to the container may not create it; it is enough that the container can be listed.
        try
        {
            await using var page = _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, null, ct).AsPages(pageSizeHint: 1).GetAsyncEnumerator(ct);
            await page.MoveNextAsync();
        }
        catch (Exception e) when (BlobRequestException.Translate("List Blobs", Target(""), e) is not null)
        {
            // Report the create failure: it says why the container is unusable.
            throw BlobRequestException.Translate("Create Container", Target(""), createFailure)!;
        }
    }

    private async ValueTask<bool> NextAsync(IAsyncEnumerator<BlobItem> blobs, string prefix)
    {
        try
        {
            return await blobs.MoveNextAsync();
        }
        catch (Exception e) when (BlobRequestException.Translate("List Blobs", Target(prefix), e) is { } failure)
        {
            throw failure;
        }
    }

    private string Target(string path) =>
        path.Length == 0 ? $"{_container.AccountName}/{_container.Name}" : $"{_container.AccountName}/{_container.Name}/{path}";
}
