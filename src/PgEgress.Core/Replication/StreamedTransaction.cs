using PgEgress.Core.Staging;

namespace PgEgress.Core.Replication;

/// <summary>
/// A large transaction the server streams in chunks before it commits (pgoutput protocol 2). Its changes wait here,
/// spilled to disk past a small memory share, until <c>StreamCommit</c> stages it whole or <c>StreamAbort</c> drops it.
/// A subtransaction's abort drops only its own changes: as PostgreSQL's own apply worker does, it cuts the buffer back to
/// the subtransaction's first change, since everything streamed after that belongs to it or to its children.
/// </summary>
internal sealed class StreamedTransaction(uint xid, string spillDirectory) : IDisposable
{
    // Every open streamed transaction has one; the server streams only transactions past logical_decoding_work_mem,
    // which are large anyway, so a small memory share keeps many of them cheap.
    private const int MemoryLimit = 1 << 20;

    private readonly Dictionary<uint, (TransactionBuffer.Position At, int Markers)> _subtransactions = [];

    public uint Xid { get; } = xid;

    public TransactionBuffer Changes { get; } = new(spillDirectory, MemoryLimit);

    /// <summary>Reload markers among the changes, in order.</summary>
    public List<PgEgressMarker> Markers { get; } = [];

    /// <summary>Called before each change of <paramref name="subxid"/> (the transaction's own xid or a subtransaction's).</summary>
    public TransactionBuffer Before(uint subxid)
    {
        if (subxid != Xid) _subtransactions.TryAdd(subxid, (Changes.Mark(), Markers.Count));
        return Changes;
    }

    /// <summary>Drops the changes of an aborted subtransaction (and of the subtransactions after its first change).</summary>
    public void AbortSubtransaction(uint subxid)
    {
        if (!_subtransactions.TryGetValue(subxid, out var first)) return;
        Changes.RollbackTo(first.At);
        Markers.RemoveRange(first.Markers, Markers.Count - first.Markers);
        foreach (var (id, at) in _subtransactions.ToList())
            if (at.At.Offset >= first.At.Offset) _subtransactions.Remove(id);
    }

    public void Dispose() => Changes.Dispose();
}
