using System.IO.Compression;
using System.Security.Cryptography;

namespace PgEgress.Core.Staging;

/// <summary>
/// Reads a staged segment forward, one transaction and one change at a time (nothing is held beyond the current
/// change). At the end it checks the trailer counts and the sha256 of the compressed bytes against the registry.
/// </summary>
public sealed class SegmentReader : IDisposable
{
    private readonly CryptoStream _hashing;
    private readonly SHA256 _sha = SHA256.Create();
    private readonly BinaryReader _in;
    private readonly string _name;
    private readonly string? _expectedSha256;
    private readonly Dictionary<uint, RelationSchema> _relations = [];
    private int _remainingInTxn = -1;
    private int _txnChangeCount;
    private int _transactions;
    private long _changes;
    private ulong _lastEndLsn;

    /// <param name="expectedSha256">Lower-case hex sha256 of the compressed bytes, verified at the end; null skips the check.</param>
    public SegmentReader(Stream compressed, string name, string? expectedSha256)
    {
        _name = name;
        _expectedSha256 = expectedSha256;
        _hashing = new CryptoStream(compressed, _sha, CryptoStreamMode.Read);
        _in = new BinaryReader(new BufferedStream(new GZipStream(_hashing, CompressionMode.Decompress), 1 << 16));
        Span<byte> magic = stackalloc byte[SegmentFormat.Magic.Length];
        _in.BaseStream.ReadExactly(magic);
        if (!magic.SequenceEqual(SegmentFormat.Magic)) throw Corrupt("not a PgEgress segment");
        Slot = _in.ReadString();
        StartLsn = _in.ReadUInt64();
    }

    public string Slot { get; }
    public ulong StartLsn { get; }

    /// <summary>Moves to the next transaction; false at the end of the segment (after verifying it).</summary>
    public bool NextTransaction(out TransactionInfo transaction)
    {
        if (_remainingInTxn >= 0) throw new InvalidOperationException("read the current transaction's changes first");
        while (true)
        {
            var tag = _in.ReadByte();
            switch (tag)
            {
                case SegmentFormat.Relation:
                    var relation = SegmentFormat.ReadRelation(_in);
                    _relations[relation.RelationId] = relation;
                    continue;
                case SegmentFormat.Transaction:
                    transaction = new TransactionInfo(_in.ReadUInt64(), _in.ReadUInt64(), _in.ReadUInt32(),
                        new DateTime(_in.ReadInt64(), DateTimeKind.Utc));
                    if (transaction.EndLsn <= _lastEndLsn) throw Corrupt("transactions out of LSN order");
                    _lastEndLsn = transaction.EndLsn;
                    _remainingInTxn = _txnChangeCount = _in.ReadInt32();
                    _transactions++;
                    return true;
                case SegmentFormat.End:
                    VerifyEnd();
                    transaction = null!;
                    return false;
                default:
                    throw Corrupt($"unexpected record tag 0x{tag:X2}");
            }
        }
    }

    /// <summary>A transaction is open: some of its changes may still be unread.</summary>
    public bool InTransaction => _remainingInTxn >= 0;

    /// <summary>Reads the next change of the current transaction; false after its last change.</summary>
    public bool NextChange(out StagedChange change)
    {
        if (_remainingInTxn < 0) throw new InvalidOperationException("no current transaction");
        while (true)
        {
            var tag = _in.ReadByte();
            if (tag == SegmentFormat.Relation)
            {
                var relation = SegmentFormat.ReadRelation(_in);
                _relations[relation.RelationId] = relation;
                continue;
            }
            if (tag == SegmentFormat.TransactionEnd)
            {
                if (_remainingInTxn != 0 || _in.ReadInt32() != _txnChangeCount) throw Corrupt("transaction change count mismatch");
                _remainingInTxn = -1;
                change = null!;
                return false;
            }
            _remainingInTxn--;
            _changes++;
            change = ReadChange((ChangeKind)tag);
            return true;
        }
    }

    private StagedChange ReadChange(ChangeKind kind)
    {
        switch (kind)
        {
            case ChangeKind.Insert:
                return new StagedChange(kind, Relation(_in.ReadUInt32()), null, false, ReadTuple());
            case ChangeKind.Update:
            {
                var relation = Relation(_in.ReadUInt32());
                var oldKind = _in.ReadByte();
                var old = oldKind == SegmentFormat.OldNone ? null : ReadTuple();
                return new StagedChange(kind, relation, old, oldKind == SegmentFormat.OldKey, ReadTuple());
            }
            case ChangeKind.Delete:
            {
                var relation = Relation(_in.ReadUInt32());
                var oldKind = _in.ReadByte();
                return new StagedChange(kind, relation, ReadTuple(), oldKind == SegmentFormat.OldKey, null);
            }
            case ChangeKind.Truncate:
            {
                var relations = new RelationSchema[_in.ReadUInt16()];
                for (var i = 0; i < relations.Length; i++) relations[i] = Relation(_in.ReadUInt32());
                _in.ReadByte();
                return new StagedChange(kind, null, null, false, null, relations);
            }
            case ChangeKind.Message:
            {
                var prefix = _in.ReadString();
                var content = _in.ReadBytes(_in.Read7BitEncodedInt());
                return new StagedChange(kind, null, null, false, null, MessagePrefix: prefix, MessageContent: content);
            }
            default:
                throw Corrupt($"unknown change kind 0x{(byte)kind:X2}");
        }
    }

    private TupleValue[] ReadTuple()
    {
        var values = new TupleValue[_in.ReadUInt16()];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (ValueKind)_in.ReadByte() switch
            {
                ValueKind.Null => TupleValue.Null,
                ValueKind.UnchangedToast => TupleValue.Unchanged,
                ValueKind.Text => new TupleValue(ValueKind.Text, _in.ReadBytes(_in.Read7BitEncodedInt())),
                var other => throw Corrupt($"unknown value kind 0x{(byte)other:X2}"),
            };
        }
        return values;
    }

    private RelationSchema Relation(uint id) =>
        _relations.TryGetValue(id, out var r) ? r : throw Corrupt($"change for relation {id} before its description");

    private void VerifyEnd()
    {
        var txns = _in.ReadInt32();
        var changes = _in.ReadInt64();
        var endLsn = _in.ReadUInt64();
        if (txns != _transactions || changes != _changes || endLsn != _lastEndLsn) throw Corrupt("trailer does not match the content");
        if (_in.BaseStream.ReadByte() != -1) throw Corrupt("data after the trailer");
        // Drain what the decompressor left unread so the hash covers the whole object.
        _hashing.CopyTo(Stream.Null);
        if (_expectedSha256 is not null)
        {
            var actual = Convert.ToHexStringLower(_sha.Hash!);
            if (actual != _expectedSha256) throw Corrupt($"sha256 {actual} does not match the registry's {_expectedSha256}");
        }
    }

    private InvalidDataException Corrupt(string what) => new($"staged segment {_name} is corrupt: {what}");

    public void Dispose()
    {
        _in.Dispose();
        _sha.Dispose();
    }
}
