namespace PgEgress.Core.Storage;

/// <summary>
/// Where staged segments and output files live. Paths are relative, '/'-separated, and never start with '/'.
/// A put is all-or-nothing: a reader never sees a half-written object (local files are renamed into place,
/// blobs are committed with one block list).
/// <para>
/// Every store applies the same path rules (see <c>ObjectPath</c>): no empty, "." or ".." segments, no backslash,
/// no control character, no segment ending with '.', at most 1024 characters. A path that breaks them throws
/// <see cref="ArgumentException"/> before any I/O. Create stores with <see cref="ObjectStoreFactory"/>; a store
/// that fails for good throws an <see cref="IOException"/> (for Azure, an <c>AzureBlob.BlobRequestException</c>
/// after retrying transient failures).
/// </para>
/// </summary>
public interface IObjectStore
{
    /// <summary>A short description for logs and status, e.g. "file:/var/pgegress" or "azureblob:account/container".</summary>
    string Describe { get; }

    /// <summary>Writes the whole stream as the object at <paramref name="path"/>, replacing any earlier object.</summary>
    Task PutAsync(string path, Stream content, CancellationToken ct);

    /// <summary>Opens the object for reading, or returns null when it does not exist.</summary>
    Task<Stream?> OpenReadAsync(string path, CancellationToken ct);

    /// <summary>Lists the paths of the objects under <paramref name="prefix"/> (recursively), in ordinal order.</summary>
    IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct);

    /// <summary>Deletes the object; deleting a missing object is not an error.</summary>
    Task DeleteAsync(string path, CancellationToken ct);

    /// <summary>Checks that the store is reachable and writable (creating the container or folder when missing).</summary>
    Task EnsureReadyAsync(CancellationToken ct);

    /// <summary>
    /// Removes what puts interrupted by a crash left behind and no reader sees (only a folder store has any: a blob is
    /// committed in one call, and the service discards uncommitted blocks by itself). Cheap to call often: a store
    /// walks its objects at most now and then.
    /// </summary>
    /// <returns>The number of leftovers removed.</returns>
    Task<int> SweepLeftoversAsync(CancellationToken ct) => Task.FromResult(0);
}
