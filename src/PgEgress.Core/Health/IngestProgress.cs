using PgEgress.Core.Batching;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Health;

/// <summary>What the running process last did, for /api/status (the registry holds the durable part).</summary>
public sealed class IngestProgress
{
    private readonly Lock _gate = new();
    private SliceResult? _lastSlice;
    private FlushResult? _lastFlush;
    private string? _lastError;
    private DateTime? _lastErrorAt;

    public void SliceDone(SliceResult slice)
    {
        lock (_gate) { _lastSlice = slice; _lastError = null; }
    }

    public void FlushDone(FlushResult flush)
    {
        lock (_gate) _lastFlush = flush;
    }

    public void Failed(string error)
    {
        lock (_gate) { _lastError = error; _lastErrorAt = DateTime.UtcNow; }
    }

    public (SliceResult? Slice, FlushResult? Flush, string? Error, DateTime? ErrorAt) Snapshot()
    {
        lock (_gate) return (_lastSlice, _lastFlush, _lastError, _lastErrorAt);
    }
}
