using System.Collections.Concurrent;
using PgEgress.Core.Health;
using PgEgress.Core.Metrics;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Sinks;

/// <summary>
/// What each sink did in this process, for /api/status (its cursor is in the registry). A meter counter cannot be
/// read back, so the status keeps these totals; every call also records the same number on <see cref="PgEgressMeter"/>.
/// </summary>
public sealed class SinkMetrics(PgEgressMeter meter, ComponentFailures failures)
{
    private readonly ConcurrentDictionary<string, Counters> _sinks = new(StringComparer.Ordinal);

    public sealed class Counters(string sink, PgEgressMeter meter, ComponentFailures failures)
    {
        private readonly string _component = SinkRunners.Consumer(sink);

        private long _delivered, _retried, _deadLettered;
        private readonly Lock _gate = new();

        public long Delivered => Interlocked.Read(ref _delivered);
        public long Retried => Interlocked.Read(ref _retried);
        public long DeadLettered => Interlocked.Read(ref _deadLettered);
        public string? LastError { get; private set; }
        public string? LastErrorKind { get; private set; }
        public DateTime? LastErrorAt { get; private set; }

        /// <summary>Commit time of the oldest transaction read but not yet delivered; null when nothing is outstanding.</summary>
        public DateTime? OldestPendingCommit { get; set; }

        /// <param name="oldestCommit">Commit time of the oldest delivered transaction, for the delivery latency.</param>
        public void AddDelivered(int n, DateTime oldestCommit)
        {
            Interlocked.Add(ref _delivered, n);
            failures.Succeeded(_component);
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

        /// <summary>A failed attempt; the sink's failure lasts until its next delivery.</summary>
        /// <returns>Whether it differs from the sink's previous failure: worth a log line.</returns>
        public bool Failed(string error, FailureKind kind, string? sqlState = null) => Record(failures.Failed(_component, kind, sqlState, error));

        /// <param name="error">What to show; the exception's message when null.</param>
        public bool Failed(Exception e, string? error = null) => Record(failures.Failed(_component, e, error));

        private bool Record((ComponentFailure Failure, bool Changed) failed)
        {
            lock (_gate) (LastError, LastErrorKind, LastErrorAt) = (failed.Failure.Message, failed.Failure.Kind, failed.Failure.LastAt);
            return failed.Changed;
        }
    }

    public Counters For(string sink) => _sinks.GetOrAdd(sink, name => new Counters(name, meter, failures));
}
