namespace PgEgress.Tests.Storage;

/// <summary>
/// A read-only, non-seekable stream of deterministic pseudo-random bytes: a large object that is never whole in
/// memory, that a store cannot rewind or measure, and whose reads come back short (as from a network or a pipe).
/// Two instances with the same seed and length yield the same bytes. Optionally fails after some bytes.
/// </summary>
internal sealed class GeneratedStream(long length, ulong seed = 0x9E3779B97F4A7C15, long failAfter = long.MaxValue) : Stream
{
    private const int MaxChunk = 100_003; // odd, so reads never line up with block boundaries
    private ulong _state = seed | 1;
    private long _position;

    /// <summary>How far the consumer has read (Position itself is unsupported, as on a network stream).</summary>
    public long BytesRead => Volatile.Read(ref _position);

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
        if (_position >= failAfter)
        {
            throw new IOException("The generated stream was told to fail here.");
        }

        var count = (int)Math.Min(Math.Min(buffer.Length, MaxChunk), Math.Min(length, failAfter) - _position);
        for (var i = 0; i < count; i++)
        {
            // xorshift64*: fast, and good enough that a misplaced block changes the hash.
            _state ^= _state >> 12;
            _state ^= _state << 25;
            _state ^= _state >> 27;
            buffer[i] = (byte)((_state * 0x2545F4914F6CDD1DUL) >> 56);
        }

        _position += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
