using PgEgress.Core.Batching;
using PgEgress.Core.Metrics;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Health;

/// <summary>What the running process last did, for /api/status (the registry holds the durable part); each event also reaches the meter.</summary>
public sealed class IngestProgress(PgEgressMeter meter, TimeProvider clock)
{
    private readonly Lock _gate = new();
    private SliceResult? _lastSlice;
    private FlushResult? _lastFlush;
    private string? _lastError;
    private DateTime? _lastErrorAt;
    private DateTime? _stagedUpTo;

    public void SliceDone(SliceResult slice)
    {
        lock (_gate)
        {
            _lastSlice = slice;
            _lastError = null;
            // An idle slice read everything committed before it started; a busy one is as far as its newest commit.
            _stagedUpTo = slice.Idle || slice.LastCommitAt is null ? slice.StartedAt : DateTime.SpecifyKind(slice.LastCommitAt.Value, DateTimeKind.Utc);
        }
        meter.SliceDone(slice);
    }

    public void FlushDone(FlushResult flush)
    {
        lock (_gate) _lastFlush = flush;
    }

    /// <param name="kind">The errors_total label: ingest, flush or reload.</param>
    public void Failed(string error, string kind = "ingest")
    {
        lock (_gate) { _lastError = error; _lastErrorAt = DateTime.UtcNow; }
        meter.Error(kind);
    }

    /// <summary>
    /// Seconds between now and the newest commit known to be staged; null before this process ran a slice. Grows
    /// while ingest is stuck or behind; an idle pipeline stays under about a slice's duration.
    /// </summary>
    public double? IngestDelaySeconds()
    {
        DateTime? upTo;
        lock (_gate) upTo = _stagedUpTo;
        return upTo is { } u ? Math.Max(0, (clock.GetUtcNow().UtcDateTime - u).TotalSeconds) : null;
    }

    public (SliceResult? Slice, FlushResult? Flush, string? Error, DateTime? ErrorAt) Snapshot()
    {
        lock (_gate) return (_lastSlice, _lastFlush, _lastError, _lastErrorAt);
    }
}
