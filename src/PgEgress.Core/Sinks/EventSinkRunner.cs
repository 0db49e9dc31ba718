using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Sinks;

/// <summary>
/// Delivers the staged log to an HTTP endpoint (webhook or Hook0) from the sink's own cursor. Events are spread over
/// the sink's workers by a hash of the row's key, so one row's changes arrive in commit order while different rows go
/// in parallel; each worker sends its events in order, batched. The cursor moves past a transaction only when all
/// its events are delivered, so a restart redelivers (same ids) rather than loses; with it goes which events of the
/// transactions after it are already delivered, so a slice (or a restarted process) goes on inside a transaction of
/// any size instead of sending it again from its first event.
/// </summary>
public sealed class EventSinkRunner(
    string name,
    SinkOptions options,
    string slot,
    EventDelivery delivery,
    int maxBatch,
    StagedLog log,
    RegistryStore registry,
    SinkMetrics.Counters metrics,
    ILogger logger) : ISinkRunner
{
    /// <summary>How often the cursor is written while delivering.</summary>
    public static readonly TimeSpan CursorInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long the workers may take to deliver what is queued when a slice ends.</summary>
    public static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How many batches a worker's queue holds: enough to keep it busy, few enough that the drain at a slice's end
    /// finishes its requests instead of cutting them off (a request cut off may have been taken, and is sent again).
    /// </summary>
    private const int QueuedBatches = 4;

    public string Name => name;
    public string Consumer => SinkRunners.Consumer(name);

    public async Task<SinkSliceResult> RunSliceAsync(TimeSpan budget, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var cursor = await registry.GetSinkCursorAsync(slot, Consumer, ct);
        var start = cursor.Lsn;
        var tracker = new CursorTracker(cursor);
        var filter = new SinkFilter(options);
        var queues = Enumerable.Range(0, options.Workers)
            .Select(_ => Channel.CreateBounded<(SinkEvent Event, object Txn)>(new BoundedChannelOptions(Math.Max(QueuedBatches * maxBatch, 16)) { SingleReader = true }))
            .ToArray();
        using var stopWorkers = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var workers = queues.Select(q => Task.Run(() => WorkAsync(q.Reader, tracker, stopWorkers), CancellationToken.None)).ToArray();
        var position = start;
        var persisted = tracker.Version;
        var lastPersist = Stopwatch.StartNew();
        var caughtUp = false;
        // The budget also bounds a reader waiting on full queues (an endpoint that keeps failing), so a slice ends on time.
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(stopWorkers.Token);
        reading.CancelAfter(budget);
        try
        {
            while (!reading.IsCancellationRequested)
            {
                var before = position;
                position = await log.ReadAsync(slot, position, async (txn, events) =>
                {
                    var token = tracker.Begin(txn.EndLsn, txn.CommitTimestamp);
                    foreach (var e in events)
                    {
                        if (tracker.IsFinished(token, e.Seq)) continue;
                        if (!filter.Accepts(e.Row))
                        {
                            tracker.Skip(token, e.Seq);
                            continue;
                        }
                        // A TRUNCATE is a barrier across the workers: after every earlier event, before every later one.
                        var barrier = e.Row.Op == 'T';
                        if (barrier) await tracker.WhenIdleAsync(reading.Token);
                        tracker.Add(token);
                        await queues[e.Partition(queues.Length)].Writer.WriteAsync((e, token), reading.Token);
                        if (barrier) await tracker.WhenIdleAsync(reading.Token);
                        // A transaction can outlast the slice: what is delivered of it is written down as it goes.
                        if (lastPersist.Elapsed >= CursorInterval) persisted = await PersistAsync(tracker, persisted, lastPersist, ct);
                    }
                    tracker.Seal(token);
                    metrics.OldestPendingCommit = tracker.OldestPending;
                    if (lastPersist.Elapsed >= CursorInterval) persisted = await PersistAsync(tracker, persisted, lastPersist, ct);
                    return !reading.IsCancellationRequested;
                }, reading.Token);
                caughtUp = position == before;
                if (caughtUp)
                {
                    persisted = await PersistAsync(tracker, persisted, lastPersist, ct);
                    await log.WaitForSegmentAsync(reading.Token);
                }
            }
        }
        catch (OperationCanceledException) when (reading.IsCancellationRequested && !stopWorkers.IsCancellationRequested || ct.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var q in queues) q.Writer.TryComplete();
            try
            {
                // Workers finish what is queued; one stuck retrying past the grace period is stopped, and what it had not
                // delivered (the cursor is before it) is delivered again next slice. On shutdown they stop at once.
                try
                {
                    await Task.WhenAll(workers).WaitAsync(DrainGrace, ct);
                }
                catch (Exception e) when (e is TimeoutException or OperationCanceledException)
                {
                    await stopWorkers.CancelAsync();
                    await Task.WhenAll(workers);
                }
            }
            finally
            {
                // Whatever was delivered counts, even when a worker failed.
                await PersistAsync(tracker, persisted, lastPersist, CancellationToken.None);
                metrics.OldestPendingCommit = tracker.OldestPending;
            }
        }
        return new SinkSliceResult(name, start, tracker.Delivered, caughtUp);
    }

    /// <returns>The tracker's version now written.</returns>
    private async Task<long> PersistAsync(CursorTracker tracker, long persisted, Stopwatch since, CancellationToken ct)
    {
        // The version first: a change made while the snapshot is taken is written again next time, never skipped.
        var version = tracker.Version;
        if (version != persisted) await registry.SaveSinkCursorAsync(slot, Consumer, tracker.Snapshot(), ct);
        since.Restart();
        return version;
    }

    private async Task WorkAsync(ChannelReader<(SinkEvent Event, object Txn)> queue, CursorTracker tracker, CancellationTokenSource stop)
    {
        var ct = stop.Token;
        var batch = new List<(SinkEvent Event, object Txn)>(maxBatch);
        try
        {
            while (await queue.WaitToReadAsync(ct))
            {
                batch.Clear();
                while (batch.Count < maxBatch && queue.TryRead(out var item)) batch.Add(item);
                if (batch.Count < maxBatch)
                {
                    // Fill the batch for at most BatchMaxWait, then send what there is.
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    wait.CancelAfter(options.BatchMaxWait);
                    try
                    {
                        while (batch.Count < maxBatch && await queue.WaitToReadAsync(wait.Token))
                            while (batch.Count < maxBatch && queue.TryRead(out var item)) batch.Add(item);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                    }
                }
                await delivery.DeliverAsync([.. batch.Select(b => b.Event)], ct);
                foreach (var b in batch) tracker.Done(b.Txn, b.Event.Seq);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Stop the slice: the reader must not wait on a queue nobody empties. The cursor stays before these events.
            metrics.Failed(e);
            logger.LogError(e, "Sink {Sink}: delivery failed; its events are delivered again from the cursor", name);
            await stop.CancelAsync();
            throw;
        }
    }
}
