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
    private readonly SpillBuffer _txnBuffer;
    private readonly BinaryWriter _txn;

    private readonly Dictionary<uint, RelationSchema> _segmentRelations = [];
    private readonly Dictionary<uint, RelationSchema> _txnFirstUse = [];
    private readonly Dictionary<uint, RelationSchema> _txnInline = [];
    private int _txnChanges;
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
        _txnBuffer = new SpillBuffer(spillDirectory, transactionMemoryLimit);
        _txn = new BinaryWriter(_txnBuffer);
    }

    public string SpoolPath { get; }
    public ulong StartLsn { get; }
    public ulong EndLsn { get; private set; }
    public int TransactionCount { get; private set; }
    public long ChangeCount { get; private set; }

    /// <summary>Uncompressed bytes of the committed transactions, for the slice's byte bound.</summary>
    public long Bytes { get; private set; }

    /// <summary>Bytes buffered for the open transaction.</summary>
    public long OpenTransactionBytes => _txnBuffer.Length;

    /// <summary>A relation description received inside the open transaction (it applies to the changes after it).</summary>
    public void AddRelation(RelationSchema relation)
    {
        SegmentFormat.WriteRelation(_txn, relation);
        _txnInline[relation.RelationId] = relation;
    }

    private void NoteUse(RelationSchema relation)
    {
        if (!_txnInline.ContainsKey(relation.RelationId))
            _txnFirstUse.TryAdd(relation.RelationId, relation);
    }

    private void StartChange(ChangeKind kind, RelationSchema relation)
    {
        NoteUse(relation);
        _txn.Write((byte)kind);
        _txn.Write(relation.RelationId);
        _txnChanges++;
    }

    public void StartInsert(RelationSchema relation) => StartChange(ChangeKind.Insert, relation);

    /// <param name="oldKind">0 when no old tuple follows, 'K' for a key tuple, 'O' for a full old row.</param>
    public void StartUpdate(RelationSchema relation, byte oldKind)
    {
        StartChange(ChangeKind.Update, relation);
        _txn.Write(oldKind);
    }

    public void StartDelete(RelationSchema relation, byte oldKind)
    {
        StartChange(ChangeKind.Delete, relation);
        _txn.Write(oldKind);
    }

    public void WriteTruncate(IReadOnlyList<RelationSchema> relations, byte options)
    {
        foreach (var r in relations) NoteUse(r);
        _txn.Write((byte)ChangeKind.Truncate);
        _txn.Write((ushort)relations.Count);
        foreach (var r in relations) _txn.Write(r.RelationId);
        _txn.Write(options);
        _txnChanges++;
    }

    public void WriteMessage(string prefix, ReadOnlySpan<byte> content)
    {
        _txn.Write((byte)ChangeKind.Message);
        _txn.Write(prefix);
        _txn.Write7BitEncodedInt(content.Length);
        _txn.Write(content);
        _txnChanges++;
    }

    public void StartTuple(int columns) => _txn.Write((ushort)columns);
    public void WriteNull() => _txn.Write((byte)ValueKind.Null);
    public void WriteUnchangedToast() => _txn.Write((byte)ValueKind.UnchangedToast);

    /// <summary>Starts a text value of <paramref name="length"/> bytes; the caller then writes exactly that many bytes to <see cref="ValueSink"/>.</summary>
    public void StartText(int length)
    {
        _txn.Write((byte)ValueKind.Text);
        _txn.Write7BitEncodedInt(length);
    }

    public Stream ValueSink => _txnBuffer;

    /// <summary>Commit time of the newest committed transaction; null before the first.</summary>
    public DateTime? LastCommitTimestamp { get; private set; }

    public void CommitTransaction(TransactionInfo info)
    {
        LastCommitTimestamp = info.CommitTimestamp;
        foreach (var (id, relation) in _txnFirstUse)
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
        _out.Write(_txnChanges);
        _txnBuffer.CopyContentTo(_out.BaseStream);
        _out.Write(SegmentFormat.TransactionEnd);
        _out.Write(_txnChanges);
        foreach (var (id, relation) in _txnInline) _segmentRelations[id] = relation;

        Bytes += _txnBuffer.Length;
        ChangeCount += _txnChanges;
        TransactionCount++;
        EndLsn = info.EndLsn;
        ResetTransaction();
    }

    public void AbandonTransaction() => ResetTransaction();

    private void ResetTransaction()
    {
        _txnBuffer.Reset();
        _txnFirstUse.Clear();
        _txnInline.Clear();
        _txnChanges = 0;
    }

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
        _txn.Dispose();
        if (_finished) return;
        _out.Dispose();
        _file.Dispose();
    }
}
