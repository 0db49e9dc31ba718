using PgEgress.Core.Batching;
using PgEgress.Core.Metrics;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Health;

/// <summary>What the running process last did, for /api/status (the registry holds the durable part); each event also reaches the meter.</summary>
public sealed class IngestProgress(PgEgressMeter meter, ComponentFailures failures, TimeProvider clock)
{
    private readonly Lock _gate = new();
    private SliceResult? _lastSlice;
    private FlushResult? _lastFlush;
    private string? _lastError;
    private string? _lastErrorKind;
    private DateTime? _lastErrorAt;
    private DateTime? _stagedUpTo;

    public void SliceDone(SliceResult slice)
    {
        lock (_gate)
        {
            _lastSlice = slice;
            _lastError = null;
            _lastErrorKind = null;
            // An idle slice read everything committed before it started; a busy one is as far as its newest commit.
            _stagedUpTo = slice.Idle || slice.LastCommitAt is null ? slice.StartedAt : DateTime.SpecifyKind(slice.LastCommitAt.Value, DateTimeKind.Utc);
        }
        failures.Succeeded(Ingest);
        meter.SliceDone(slice);
    }

    public void FlushDone(FlushResult flush)
    {
        lock (_gate) _lastFlush = flush;
        failures.Succeeded(Flush);
    }

    public const string Ingest = "ingest";
    public const string Flush = "flush";

    /// <summary>A failed attempt of <paramref name="component"/> (<see cref="Ingest"/>, <see cref="Flush"/>, reload:{table}): the last error, and the component's current failure.</summary>
    /// <param name="error">What last_error says; the exception's message when null.</param>
    /// <returns>Whether the failure differs from the component's previous one (see <see cref="ComponentFailures.Failed(string, Exception, string?)"/>).</returns>
    public bool Failed(Exception e, string component = Ingest, string? error = null)
    {
        var (failure, changed) = failures.Failed(component, e, error);
        lock (_gate) { _lastError = failure.Message; _lastErrorKind = failure.Kind; _lastErrorAt = failure.LastAt; }
        return changed;
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

    public (SliceResult? Slice, FlushResult? Flush, string? Error, string? ErrorKind, DateTime? ErrorAt) Snapshot()
    {
        lock (_gate) return (_lastSlice, _lastFlush, _lastError, _lastErrorKind, _lastErrorAt);
    }
}
