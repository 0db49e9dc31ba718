using PgEgress.Core.Storage;

namespace PgEgress.Core.Staging;

/// <summary>
/// A write-then-replay buffer that keeps small contents in memory and moves to a temporary file past a threshold,
/// so that buffering one transaction costs bounded memory whatever its size.
/// </summary>
public sealed class SpillBuffer : Stream
{
    private readonly string _spillDirectory;
    private readonly int _memoryLimit;
    private readonly MemoryStream _memory = new();
    private FileStream? _file;

    public SpillBuffer(string spillDirectory, int memoryLimit)
    {
        _spillDirectory = spillDirectory;
        _memoryLimit = memoryLimit;
    }

    private Stream Current => (Stream?)_file ?? _memory;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_file is null && _memory.Length + buffer.Length > _memoryLimit)
            SpillToFile();
        Current.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    private void SpillToFile()
    {
        PrivateFiles.CreateFolder(_spillDirectory);
        _file = PrivateFiles.Open(Path.Combine(_spillDirectory, $"txn-{Guid.NewGuid():N}.spill"), FileMode.CreateNew,
            FileAccess.ReadWrite, 1 << 16, FileOptions.DeleteOnClose);
        _memory.Position = 0;
        _memory.CopyTo(_file);
        _memory.SetLength(0);
    }

    /// <summary>Copies everything written so far to <paramref name="target"/>.</summary>
    public void CopyContentTo(Stream target)
    {
        if (_file is null)
        {
            _memory.Position = 0;
            _memory.CopyTo(target);
            return;
        }
        _file.Flush();
        _file.Position = 0;
        _file.CopyTo(target, 1 << 16);
        _file.Position = _file.Length;
    }

    /// <summary>Drops everything after the first <paramref name="length"/> bytes.</summary>
    public void Truncate(long length)
    {
        if (length > Length) throw new ArgumentOutOfRangeException(nameof(length), length, "beyond the buffer's end");
        Current.SetLength(length);
        Current.Position = length;
    }

    /// <summary>Empties the buffer for the next transaction, releasing any spill file and an oversized memory block.</summary>
    public void Reset()
    {
        _file?.Dispose();
        _file = null;
        _memory.SetLength(0);
        if (_memory.Capacity > _memoryLimit) _memory.Capacity = 0;
    }

    public override long Length => Current.Length;
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Position { get => Length; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) Reset();
        base.Dispose(disposing);
    }
}
