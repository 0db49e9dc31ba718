using PgEgress.Core.Storage;

namespace PgEgress.Core.Staging;

/// <summary>
/// The encoded changes of one open transaction, in segment format, kept in a <see cref="SpillBuffer"/> until the
/// transaction commits (<see cref="SegmentWriter.CommitTransaction(TransactionInfo, TransactionBuffer)"/>) or is abandoned.
/// A streamed transaction can roll part of itself back (<see cref="Mark"/>, <see cref="RollbackTo"/>): an aborted
/// subtransaction's changes are all after its first change.
/// </summary>
public sealed class TransactionBuffer : IDisposable
{
    private readonly SpillBuffer _buffer;
    private readonly BinaryWriter _out;
    // Relations described inside the transaction, with where: a rollback cuts their records too and writes them again.
    private readonly List<(long Offset, RelationSchema Relation)> _inline = [];

    public TransactionBuffer(string spillDirectory, int memoryLimit)
    {
        _buffer = new SpillBuffer(spillDirectory, memoryLimit);
        _out = new BinaryWriter(_buffer);
    }

    /// <summary>A position to roll back to.</summary>
    public readonly record struct Position(long Offset, int Changes);

    /// <summary>Relations the changes use before any description inside the transaction: the segment must describe them first.</summary>
    internal Dictionary<uint, RelationSchema> FirstUse { get; } = [];

    /// <summary>The relations as the transaction's last descriptions leave them.</summary>
    internal IEnumerable<(uint Id, RelationSchema Relation)> Inline => _inline.Select(r => (r.Relation.RelationId, r.Relation));

    public int Changes { get; private set; }

    /// <summary>Encoded bytes buffered.</summary>
    public long Length => _buffer.Length;

    public Position Mark() => new(_buffer.Length, Changes);

    /// <summary>Drops everything written after <paramref name="position"/>; relations described after it are described again.</summary>
    public void RollbackTo(Position position)
    {
        var cut = _inline.Where(r => r.Offset >= position.Offset).Select(r => r.Relation).ToList();
        _inline.RemoveAll(r => r.Offset >= position.Offset);
        _buffer.Truncate(position.Offset);
        Changes = position.Changes;
        foreach (var relation in cut.GroupBy(r => r.RelationId).Select(g => g.Last())) AddRelation(relation);
    }

    /// <summary>A relation description received inside the transaction (it applies to the changes after it).</summary>
    public void AddRelation(RelationSchema relation)
    {
        _inline.Add((_buffer.Length, relation));
        SegmentFormat.WriteRelation(_out, relation);
    }

    private void NoteUse(RelationSchema relation)
    {
        if (!_inline.Exists(r => r.Relation.RelationId == relation.RelationId))
            FirstUse.TryAdd(relation.RelationId, relation);
    }

    private void StartChange(ChangeKind kind, RelationSchema relation)
    {
        NoteUse(relation);
        _out.Write((byte)kind);
        _out.Write(relation.RelationId);
        Changes++;
    }

    public void StartInsert(RelationSchema relation) => StartChange(ChangeKind.Insert, relation);

    /// <param name="oldKind">0 when no old tuple follows, 'K' for a key tuple, 'O' for a full old row.</param>
    public void StartUpdate(RelationSchema relation, byte oldKind)
    {
        StartChange(ChangeKind.Update, relation);
        _out.Write(oldKind);
    }

    public void StartDelete(RelationSchema relation, byte oldKind)
    {
        StartChange(ChangeKind.Delete, relation);
        _out.Write(oldKind);
    }

    public void WriteTruncate(IReadOnlyList<RelationSchema> relations, byte options)
    {
        foreach (var r in relations) NoteUse(r);
        _out.Write((byte)ChangeKind.Truncate);
        _out.Write((ushort)relations.Count);
        foreach (var r in relations) _out.Write(r.RelationId);
        _out.Write(options);
        Changes++;
    }

    public void WriteMessage(string prefix, ReadOnlySpan<byte> content)
    {
        _out.Write((byte)ChangeKind.Message);
        _out.Write(prefix);
        _out.Write7BitEncodedInt(content.Length);
        _out.Write(content);
        Changes++;
    }

    public void StartTuple(int columns) => _out.Write((ushort)columns);
    public void WriteNull() => _out.Write((byte)ValueKind.Null);
    public void WriteUnchangedToast() => _out.Write((byte)ValueKind.UnchangedToast);

    /// <summary>Starts a text value of <paramref name="length"/> bytes; the caller then writes exactly that many bytes to <see cref="ValueSink"/>.</summary>
    public void StartText(int length)
    {
        _out.Write((byte)ValueKind.Text);
        _out.Write7BitEncodedInt(length);
    }

    public Stream ValueSink => _buffer;

    internal void CopyContentTo(Stream target) => _buffer.CopyContentTo(target);

    /// <summary>Empties the buffer for the next transaction, releasing any spill file.</summary>
    public void Reset()
    {
        _buffer.Reset();
        FirstUse.Clear();
        _inline.Clear();
        Changes = 0;
    }

    public void Dispose()
    {
        _out.Dispose();
        _buffer.Dispose();
    }
}
