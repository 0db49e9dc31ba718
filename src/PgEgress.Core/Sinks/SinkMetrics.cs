using System.Collections.Concurrent;

namespace PgEgress.Core.Sinks;

/// <summary>What each sink did in this process, for /api/status (its cursor is in the registry).</summary>
public sealed class SinkMetrics
{
    private readonly ConcurrentDictionary<string, Counters> _sinks = new(StringComparer.Ordinal);

    public sealed class Counters
    {
        private long _delivered, _retried, _deadLettered;
        private readonly Lock _gate = new();

        public long Delivered => Interlocked.Read(ref _delivered);
        public long Retried => Interlocked.Read(ref _retried);
        public long DeadLettered => Interlocked.Read(ref _deadLettered);
        public string? LastError { get; private set; }
        public DateTime? LastErrorAt { get; private set; }

        /// <summary>Commit time of the oldest transaction read but not yet delivered; null when nothing is outstanding.</summary>
        public DateTime? OldestPendingCommit { get; set; }

        public void AddDelivered(int n) => Interlocked.Add(ref _delivered, n);
        public void AddRetried() => Interlocked.Increment(ref _retried);
        public void AddDeadLettered(int n) => Interlocked.Add(ref _deadLettered, n);

        public void Failed(string error)
        {
            lock (_gate) (LastError, LastErrorAt) = (error, DateTime.UtcNow);
        }
    }

    public Counters For(string sink) => _sinks.GetOrAdd(sink, _ => new Counters());
}
