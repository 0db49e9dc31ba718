using System.Collections.Concurrent;
using PgEgress.Core.Metrics;

namespace PgEgress.Core.Sinks;

/// <summary>
/// What each sink did in this process, for /api/status (its cursor is in the registry). A meter counter cannot be
/// read back, so the status keeps these totals; every call also records the same number on <see cref="PgEgressMeter"/>.
/// </summary>
public sealed class SinkMetrics(PgEgressMeter meter)
{
    private readonly ConcurrentDictionary<string, Counters> _sinks = new(StringComparer.Ordinal);

    public sealed class Counters(string sink, PgEgressMeter meter)
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

        /// <param name="oldestCommit">Commit time of the oldest delivered transaction, for the delivery latency.</param>
        public void AddDelivered(int n, DateTime oldestCommit)
        {
            Interlocked.Add(ref _delivered, n);
            meter.Delivered(sink, n, oldestCommit);
        }

        public void AddRetried()
        {
            Interlocked.Increment(ref _retried);
            meter.Retried(sink);
        }

        public void AddDeadLettered(int n)
        {
            Interlocked.Add(ref _deadLettered, n);
            meter.DeadLettered(sink, n);
        }

        public void Failed(string error)
        {
            lock (_gate) (LastError, LastErrorAt) = (error, DateTime.UtcNow);
            meter.Error("sink");
        }
    }

    public Counters For(string sink) => _sinks.GetOrAdd(sink, name => new Counters(name, meter));
}
