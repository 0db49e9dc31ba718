using System.Diagnostics.Metrics;
using PgEgress.Core.Batching;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Metrics;

/// <summary>
/// The engine's one <see cref="Meter"/>. Instrument names follow OpenTelemetry; the Prometheus exporter turns
/// "pgegress.flush.rows" into pgegress_flush_rows_total and appends the unit ("By" → _bytes, "s" → _seconds).
/// Labels are bounded: a table of the publication, a configured sink, a consumer, an error kind. README "Metrics" lists every series.
/// </summary>
public sealed class PgEgressMeter : IDisposable
{
    public const string Name = "PgEgress";

    private readonly Meter _meter = new(Name);
    private readonly Counter<long> _changes, _transactions, _stagedBytes, _flushRows, _flushBytes, _flushFiles;
    private readonly Counter<long> _delivered, _retried, _deadLettered, _reloadRows, _errors, _feedRequests, _feedRecords, _notifications;
    private readonly Histogram<double> _slice, _flush, _delivery, _reload, _verify;
    private readonly Counter<long> _verifyRows;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Table, string Kind), long> _discrepancies = new();

    public PgEgressMeter()
    {
        _changes = _meter.CreateCounter<long>("pgegress.ingest.changes", "{change}", "Changes (rows, truncates, messages) staged from the slot.");
        _transactions = _meter.CreateCounter<long>("pgegress.ingest.transactions", "{transaction}", "Transactions staged from the slot.");
        _stagedBytes = _meter.CreateCounter<long>("pgegress.ingest.staged", "By", "Uncompressed bytes of staged transactions.");
        _slice = _meter.CreateHistogram<double>("pgegress.ingest.slice.duration", "s", "Duration of one ingest slice.");
        _flush = _meter.CreateHistogram<double>("pgegress.flush.duration", "s", "Duration of one flush (all tables of a batch).");
        _flushRows = _meter.CreateCounter<long>("pgegress.flush.rows", "{row}", "Rows written to batch files, per table.");
        _flushBytes = _meter.CreateCounter<long>("pgegress.flush.written", "By", "Compressed bytes of batch files written, per table.");
        _flushFiles = _meter.CreateCounter<long>("pgegress.flush.files", "{file}", "Batch files registered, per table.");
        _delivered = _meter.CreateCounter<long>("pgegress.sink.delivered", "{event}", "Events delivered (rows applied for a Postgres sink), per sink.");
        _retried = _meter.CreateCounter<long>("pgegress.sink.retried", "{attempt}", "Delivery attempts retried, per sink.");
        _deadLettered = _meter.CreateCounter<long>("pgegress.sink.dead_lettered", "{event}", "Events dead-lettered (rows set aside for a Postgres sink), per sink.");
        _delivery = _meter.CreateHistogram<double>("pgegress.sink.delivery.latency", "s", "From the source commit to delivery, per delivered batch (its oldest commit), per sink.");
        _reloadRows = _meter.CreateCounter<long>("pgegress.reload.rows", "{row}", "Rows exported by reloads and initial loads, per table.");
        _reload = _meter.CreateHistogram<double>("pgegress.reload.duration", "s", "From the start of an export round to the table's reload file being registered, per table.");
        _verifyRows = _meter.CreateCounter<long>("pgegress.verification.rows_scanned", "{row}", "Table rows hashed by verifications, per table.");
        _verify = _meter.CreateHistogram<double>("pgegress.verification.duration", "s", "Duration of one verification, per table.");
        _meter.CreateObservableGauge("pgegress.verification.discrepancies",
            () => _discrepancies.Select(d => new Measurement<long>(d.Value, new("table", d.Key.Table), new("kind", d.Key.Kind))),
            "{row}", "Rows the table's last verification in this process found missing from the files, extra in them, or different.");
        _errors = _meter.CreateCounter<long>("pgegress.errors", "{error}", "Failed attempts by kind (ingest, flush, reload, sink) and class (transient, permanent); each is retried.");
        _feedRequests = _meter.CreateCounter<long>("pgegress.clients.feed.requests", "{request}", "Change-feed reads (GET /api/clients/{id}/changes) answered.");
        _feedRecords = _meter.CreateCounter<long>("pgegress.clients.feed.records", "{change}", "Changes served by the change feed to all clients.");
        _notifications = _meter.CreateCounter<long>("pgegress.clients.notifications", "{event}", "Notification events sent to clients (Server-Sent Events).");
    }

    /// <summary>For the observable gauges of <see cref="Health.HealthSampler"/>, which read a sample instead of querying per scrape.</summary>
    internal Meter Meter => _meter;

    public void SliceDone(SliceResult slice)
    {
        _slice.Record(slice.Duration.TotalSeconds);
        if (slice.Idle) return;
        _changes.Add(slice.Changes);
        _transactions.Add(slice.Transactions);
        _stagedBytes.Add(slice.Bytes);
    }

    public void Flushed(FlushResult flush, TimeSpan duration)
    {
        _flush.Record(duration.TotalSeconds);
        foreach (var file in flush.Files)
        {
            var table = new KeyValuePair<string, object?>("table", file.Table);
            _flushRows.Add(file.Rows, table);
            _flushBytes.Add(file.Bytes, table);
            _flushFiles.Add(1, table);
        }
    }

    public void Delivered(string sink, int events, DateTime oldestCommit)
    {
        _delivered.Add(events, Sink(sink));
        _delivery.Record(Math.Max(0, (DateTime.UtcNow - DateTime.SpecifyKind(oldestCommit, DateTimeKind.Utc)).TotalSeconds), Sink(sink));
    }

    public void Retried(string sink) => _retried.Add(1, Sink(sink));

    public void DeadLettered(string sink, int events) => _deadLettered.Add(events, Sink(sink));

    public void Reloaded(string table, long rows, TimeSpan duration)
    {
        _reloadRows.Add(rows, new KeyValuePair<string, object?>("table", table));
        _reload.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("table", table));
    }

    public void Verified(string table, Verification.VerificationOutcome outcome, TimeSpan duration)
    {
        _verifyRows.Add(outcome.RowsScanned, new KeyValuePair<string, object?>("table", table));
        _verify.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("table", table));
        _discrepancies[(table, "missing")] = outcome.MissingInFiles;
        _discrepancies[(table, "extra")] = outcome.OnlyInFiles;
        _discrepancies[(table, "different")] = outcome.Different;
    }

    /// <param name="class">transient or permanent (<see cref="Pipeline.FailureClassifier"/>).</param>
    public void Error(string kind, string @class) =>
        _errors.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("class", @class));

    public void FeedServed(int changes)
    {
        _feedRequests.Add(1);
        _feedRecords.Add(changes);
    }

    public void ClientNotified() => _notifications.Add(1);

    private static KeyValuePair<string, object?> Sink(string sink) => new("sink", sink);

    public void Dispose() => _meter.Dispose();
}
