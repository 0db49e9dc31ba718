namespace PgEgress.Core.Sinks;

/// <summary>
/// Where an event sink's cursor may go while its workers deliver out of order: past a transaction only when every
/// event of it, and of every transaction before it, has been delivered (or dead-lettered).
/// </summary>
public sealed class CursorTracker(ulong start)
{
    private sealed class Pending(ulong endLsn, DateTime commit)
    {
        public ulong EndLsn { get; } = endLsn;
        public DateTime Commit { get; } = commit;
        public int Outstanding;
        public bool Sealed;
    }

    private readonly LinkedList<Pending> _pending = [];
    private readonly Lock _gate = new();
    private ulong _delivered = start;
    private int _inFlight;
    private TaskCompletionSource? _idle;

    /// <summary>Everything up to this end LSN is delivered.</summary>
    public ulong Delivered
    {
        get { lock (_gate) return _delivered; }
    }

    /// <summary>Commit time of the oldest transaction not fully delivered.</summary>
    public DateTime? OldestPending
    {
        get { lock (_gate) return _pending.First?.Value.Commit; }
    }

    public object Begin(ulong endLsn, DateTime commit)
    {
        lock (_gate) return _pending.AddLast(new Pending(endLsn, commit));
    }

    public void Add(object txn)
    {
        lock (_gate)
        {
            ((LinkedListNode<Pending>)txn).Value.Outstanding++;
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
            ((LinkedListNode<Pending>)txn).Value.Sealed = true;
            Advance();
        }
    }

    public void Done(object txn)
    {
        lock (_gate)
        {
            ((LinkedListNode<Pending>)txn).Value.Outstanding--;
            if (--_inFlight == 0)
            {
                _idle?.TrySetResult();
                _idle = null;
            }
            Advance();
        }
    }

    private void Advance()
    {
        while (_pending.First is { Value: { Sealed: true, Outstanding: 0 } done })
        {
            _delivered = done.EndLsn;
            _pending.RemoveFirst();
        }
    }
}
