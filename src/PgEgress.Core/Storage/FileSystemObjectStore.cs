using PgEgress.Core.Diagnostics;

namespace PgEgress.Core.Storage;

/// <summary>
/// Objects as files under a root folder. A put writes a temporary file beside the target, flushes it to disk
/// and renames it into place (then flushes the folder), so a reader sees either the old object or the whole
/// new one, and a put that returned survives a crash. Files are created 0600 and folders 0700: the output
/// holds database contents. A process killed mid-put leaves its temporary file; <see cref="SweepLeftoversAsync"/>
/// removes those that nobody has written to for <see cref="LeftoverAge"/>.
/// </summary>
public sealed class FileSystemObjectStore : IObjectStore
{
    /// <summary>Temporary files start with this; listing skips them and object names may not use it.</summary>
    internal const string TempPrefix = ".pgegress-tmp-";

    private const int CopyBufferSize = 1 << 20;

    /// <summary>
    /// A temporary file not written to for this long is a leftover. A live put, in this process or another one sharing
    /// the folder (Functions instances), writes its file continuously and renames it moments after the last write.
    /// </summary>
    internal static readonly TimeSpan LeftoverAge = TimeSpan.FromHours(1);

    /// <summary>The least time between two walks of the whole folder: a large output holds many files.</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(15);

    private readonly string _root;
    private readonly Lock _sweepLock = new();
    private DateTime? _lastSweep;

    public FileSystemObjectStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        _root = Path.GetFullPath(root);
    }

    public string Describe => $"file:{_root}";

    public async Task PutAsync(string path, Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var target = ToFullPath(path);
        var folder = Path.GetDirectoryName(target)!;
        PrivateFiles.CreateFolder(folder);
        var temp = await WriteTempFileAsync(folder, content, ct);
        try
        {
            await CrashPoint.PauseAsync(CrashPoint.StorePut, path, ct);
            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        DirectorySync.Flush(folder);
    }

    public Task<Stream?> OpenReadAsync(string path, CancellationToken ct)
    {
        var full = ToFullPath(path);
        ct.ThrowIfCancellationRequested();
        if (Directory.Exists(full))
        {
            return Task.FromResult<Stream?>(null); // a folder is only a prefix of other objects, as in a blob container
        }

        try
        {
            // FileShare.Delete: a concurrent put may rename a new version over this file while it is being read.
            Stream stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, CopyBufferSize, useAsync: true);
            return Task.FromResult<Stream?>(stream);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct)
    {
        ObjectPath.ValidatePrefix(prefix);
        return ListSorted(prefix, ct).ToAsyncEnumerable();
    }

    public Task DeleteAsync(string path, CancellationToken ct)
    {
        var full = ToFullPath(path);
        ct.ThrowIfCancellationRequested();
        if (Directory.Exists(full))
        {
            return Task.CompletedTask; // a folder is not an object: there is nothing to delete
        }

        try
        {
            File.Delete(full);
        }
        catch (DirectoryNotFoundException)
        {
            // The object's folder is gone, so the object is too.
        }

        return Task.CompletedTask;
    }

    public async Task EnsureReadyAsync(CancellationToken ct)
    {
        PrivateFiles.CreateFolder(_root);
        // Proves the root is writable now rather than at the first flush; the probe is a temp file, never listed.
        var probe = await WriteTempFileAsync(_root, Stream.Null, ct);
        File.Delete(probe);
    }

    public Task<int> SweepLeftoversAsync(CancellationToken ct)
    {
        var now = DateTime.UtcNow;
        lock (_sweepLock)
        {
            if (_lastSweep is { } last && now - last < SweepInterval) return Task.FromResult(0);
            _lastSweep = now;
        }
        if (!Directory.Exists(_root)) return Task.FromResult(0);

        var removed = 0;
        var walk = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 };
        foreach (var file in Directory.EnumerateFiles(_root, TempPrefix + "*", walk))
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                if (now - File.GetLastWriteTimeUtc(file) < LeftoverAge) continue;
                File.Delete(file);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Renamed or removed meanwhile by its writer or another sweeper, or not ours to remove: the next sweep looks again.
            }
        }
        return Task.FromResult(removed);
    }

    private string ToFullPath(string path)
    {
        ObjectPath.Validate(path);
        if (path.AsSpan(path.LastIndexOf('/') + 1).StartsWith(TempPrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Object path '{path}' uses the reserved temporary-file prefix '{TempPrefix}'.", nameof(path));
        }

        return Path.Combine(_root, path);
    }

    /// <summary>Lazy, like a blob listing: nothing is read until the caller enumerates.</summary>
    private IEnumerable<string> ListSorted(string prefix, CancellationToken ct)
    {
        // Only the folder the prefix fully names is walked; its last, partial segment filters by name.
        var slash = prefix.LastIndexOf('/');
        var start = slash < 0 ? _root : Path.Combine(_root, prefix[..slash]);
        if (!Directory.Exists(start))
        {
            yield break;
        }

        var paths = new List<string>();
        foreach (var file in Directory.EnumerateFiles(start, "*", SearchOption.AllDirectories))
        {
            ct.ThrowIfCancellationRequested();
            if (Path.GetFileName(file).StartsWith(TempPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var relative = Path.GetRelativePath(_root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (relative.StartsWith(prefix, StringComparison.Ordinal))
            {
                paths.Add(relative);
            }
        }

        // The file system enumerates in no particular order; callers rely on ordinal order.
        paths.Sort(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            yield return path;
        }
    }

    private static async Task<string> WriteTempFileAsync(string folder, Stream content, CancellationToken ct)
    {
        var temp = Path.Combine(folder, TempPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            await using var file = PrivateFiles.Open(temp, FileMode.CreateNew, FileAccess.Write, CopyBufferSize, FileOptions.Asynchronous);
            await content.CopyToAsync(file, CopyBufferSize, ct);
            await file.FlushAsync(ct);
            file.Flush(flushToDisk: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        return temp;
    }
}
