using PgEgress.Core.Registry;

namespace PgEgress.Core.Sinks;

/// <summary>
/// Where an event sink's cursor may go while its workers deliver out of order: past a transaction only when every
/// event of it, and of every transaction before it, has been delivered (or dead-lettered). Inside the transactions
/// not yet passed it knows each finished event, so a cursor written mid-transaction lets the next slice (or process)
/// go on from there instead of sending the transaction again from its first event.
/// </summary>
public sealed class CursorTracker(SinkCursor start)
{
    private sealed class Pending(ulong endLsn, DateTime commit, TransactionProgress progress)
    {
        public ulong EndLsn { get; } = endLsn;
        public DateTime Commit { get; } = commit;
        public TransactionProgress Progress { get; } = progress;
        public int Outstanding;
        public bool Sealed;
    }

    private readonly LinkedList<Pending> _pending = [];
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, PartialTransaction> _resumed = start.Partial.Where(p => p.EndLsn > start.Lsn).ToDictionary(p => p.EndLsn);
    private ulong _delivered = start.Lsn;
    private long _version;
    private int _inFlight;
    private TaskCompletionSource? _idle;

    /// <summary>Everything up to this end LSN is delivered.</summary>
    public ulong Delivered
    {
        get { lock (_gate) return _delivered; }
    }

    /// <summary>Changes whenever there is more to write down.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Commit time of the oldest transaction not fully delivered.</summary>
    public DateTime? OldestPending
    {
        get { lock (_gate) return _pending.First?.Value.Commit; }
    }

    /// <summary>
    /// The cursor to write: the delivered position and what is finished of each transaction after it, including the
    /// progress read at the start for transactions this slice has not reached yet.
    /// </summary>
    public SinkCursor Snapshot()
    {
        lock (_gate)
            return new SinkCursor(_delivered, [.. _pending.Where(p => p.Progress.Any).Select(p => p.Progress.ToSaved(p.EndLsn))
                .Concat(_resumed.Values).OrderBy(p => p.EndLsn)]);
    }

    public object Begin(ulong endLsn, DateTime commit)
    {
        lock (_gate)
        {
            var progress = _resumed.Remove(endLsn, out var saved) ? TransactionProgress.From(saved) : new TransactionProgress();
            return _pending.AddLast(new Pending(endLsn, commit, progress));
        }
    }

    /// <summary>The event was finished before (an earlier slice delivered it): it is not handed out again.</summary>
    public bool IsFinished(object txn, int seq)
    {
        lock (_gate) return Node(txn).Progress.Contains(seq);
    }

    /// <summary>An event that needs no delivery (the sink's filter drops it).</summary>
    public void Skip(object txn, int seq)
    {
        lock (_gate) Finish(Node(txn), seq);
    }

    public void Add(object txn)
    {
        lock (_gate)
        {
            Node(txn).Outstanding++;
            _inFlight++;
        }
    }

    /// <summary>Completes when every event handed out so far is delivered.</summary>
    public Task WhenIdleAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            if (_inFlight == 0) return Task.CompletedTask;
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task.WaitAsync(ct);
        }
    }

    /// <summary>All of the transaction's events have been handed out.</summary>
    public void Seal(object txn)
    {
        lock (_gate)
        {
            Node(txn).Sealed = true;
            Advance();
        }
    }

    public void Done(object txn, int seq)
    {
        lock (_gate)
        {
            var pending = Node(txn);
            pending.Outstanding--;
            Finish(pending, seq);
            if (--_inFlight == 0)
            {
                _idle?.TrySetResult();
                _idle = null;
            }
            Advance();
        }
    }

    private static Pending Node(object txn) => ((LinkedListNode<Pending>)txn).Value;

    private void Finish(Pending pending, int seq)
    {
        pending.Progress.Add(seq);
        Interlocked.Increment(ref _version);
    }

    private void Advance()
    {
        while (_pending.First is { Value: { Sealed: true, Outstanding: 0 } done })
        {
            _delivered = done.EndLsn;
            _pending.RemoveFirst();
            Interlocked.Increment(ref _version);
        }
    }
}
