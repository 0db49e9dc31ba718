using System.Security.Cryptography;

namespace PgEgress.Core.Reload;

/// <summary>
/// Reads spool files one after the other as one forward-only stream, hashing what it hands out: the upload then
/// reads the files once, and the SHA-256 and length describe exactly the bytes the store was given. Both stores
/// only read to the end (FileSystem with CopyToAsync, Azure Blob block by block), so nothing needs to seek.
/// </summary>
internal sealed class SpoolConcatenation(IReadOnlyList<string> files) : Stream
{
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private int _next;
    private FileStream? _current;
    private long _read;

    /// <summary>The SHA-256 (lower-case hex) and length of everything read, once the last file has been read to its end.</summary>
    public (string Sha256, long Bytes) Digest()
    {
        if (_next < files.Count || _current is not null)
            throw new InvalidOperationException("the upload stopped before the end of the spool files");
        return (Convert.ToHexStringLower(_sha256.GetHashAndReset()), _read);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (buffer.Length > 0 && Current() is { } file)
        {
            var n = file.Read(buffer);
            if (n > 0) return Consumed(buffer[..n]);
            EndCurrent();
        }
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > 0 && Current() is { } file)
        {
            var n = await file.ReadAsync(buffer, cancellationToken);
            if (n > 0) return Consumed(buffer.Span[..n]);
            EndCurrent();
        }
        return 0;
    }

    private FileStream? Current()
    {
        if (_current is null && _next < files.Count)
            _current = new FileStream(files[_next++], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return _current;
    }

    private int Consumed(ReadOnlySpan<byte> bytes)
    {
        _sha256.AppendData(bytes);
        _read += bytes.Length;
        return bytes.Length;
    }

    private void EndCurrent()
    {
        _current!.Dispose();
        _current = null;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _current?.Dispose();
            _current = null;
            _sha256.Dispose();
        }
        base.Dispose(disposing);
    }
}
