using System.IO.Compression;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Staging;

/// <summary>
/// Writes one staged segment to a local spool file. Changes of the open transaction go to a <see cref="SpillBuffer"/>
/// and reach the segment only at commit, so the segment holds whole committed transactions and an abandoned
/// transaction leaves no trace.
/// </summary>
public sealed class SegmentWriter : IDisposable
{
    private readonly FileStream _file;
    private readonly BinaryWriter _out;

    private readonly Dictionary<uint, RelationSchema> _segmentRelations = [];
    private bool _finished;

    public SegmentWriter(string spoolPath, string slot, ulong startLsn, string spillDirectory, int transactionMemoryLimit = 8 << 20)
    {
        SpoolPath = spoolPath;
        StartLsn = startLsn;
        _file = PrivateFiles.Open(spoolPath, FileMode.Create, FileAccess.Write, 1 << 16);
        // BinaryWriter writes straight through; the BufferedStream batches small records before they reach zlib.
        _out = new BinaryWriter(new BufferedStream(new GZipStream(_file, CompressionLevel.Fastest, leaveOpen: true), 1 << 16));
        _out.Write(SegmentFormat.Magic);
        _out.Write(slot);
        _out.Write(startLsn);
        Open = new TransactionBuffer(spillDirectory, transactionMemoryLimit);
    }

    public string SpoolPath { get; }
    public ulong StartLsn { get; }
    public ulong EndLsn { get; private set; }
    public int TransactionCount { get; private set; }
    public long ChangeCount { get; private set; }

    /// <summary>Uncompressed bytes of the committed transactions, for the slice's byte bound.</summary>
    public long Bytes { get; private set; }

    /// <summary>The open transaction of the stream (one not streamed in chunks); committed by <see cref="CommitTransaction(TransactionInfo)"/>.</summary>
    public TransactionBuffer Open { get; }

    /// <summary>Commit time of the newest committed transaction; null before the first.</summary>
    public DateTime? LastCommitTimestamp { get; private set; }

    public void CommitTransaction(TransactionInfo info) => CommitTransaction(info, Open);

    /// <summary>Appends <paramref name="txn"/> as one committed transaction and empties it.</summary>
    public void CommitTransaction(TransactionInfo info, TransactionBuffer txn)
    {
        LastCommitTimestamp = info.CommitTimestamp;
        foreach (var (id, relation) in txn.FirstUse)
        {
            if (_segmentRelations.TryGetValue(id, out var known) && ReferenceEquals(known, relation)) continue;
            SegmentFormat.WriteRelation(_out, relation);
            _segmentRelations[id] = relation;
        }
        _out.Write(SegmentFormat.Transaction);
        _out.Write(info.EndLsn);
        _out.Write(info.CommitLsn);
        _out.Write(info.Xid);
        _out.Write(info.CommitTimestamp.Ticks);
        _out.Write(txn.Changes);
        txn.CopyContentTo(_out.BaseStream);
        _out.Write(SegmentFormat.TransactionEnd);
        _out.Write(txn.Changes);
        foreach (var (id, relation) in txn.Inline) _segmentRelations[id] = relation;

        Bytes += txn.Length;
        ChangeCount += txn.Changes;
        TransactionCount++;
        EndLsn = info.EndLsn;
        txn.Reset();
    }

    public void AbandonTransaction() => Open.Reset();

    /// <summary>Writes the trailer and closes the spool file, durably.</summary>
    public void Finish()
    {
        _out.Write(SegmentFormat.End);
        _out.Write(TransactionCount);
        _out.Write(ChangeCount);
        _out.Write(EndLsn);
        _out.Dispose();
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        _finished = true;
    }

    public void Dispose()
    {
        Open.Dispose();
        if (_finished) return;
        _out.Dispose();
        _file.Dispose();
    }
}
