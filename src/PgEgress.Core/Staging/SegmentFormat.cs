namespace PgEgress.Core.Staging;

/// <summary>
/// The staged segment format (gzip of a tagged binary record stream). A segment is self-describing: it carries the
/// relation metadata its rows need, holds only whole committed transactions, and ends with a trailer whose counts
/// the reader checks; the registry row holds the sha256 of the compressed bytes.
/// <code>
/// header  : "PGEGSEG" 0x01, slot (string), start LSN (u64, exclusive)
/// 'R'     : relation id, namespace, name, replica identity, columns (name, type oid, typmod, type name, nullable, key)
/// 'X'     : end LSN, commit LSN, xid, commit time (ticks UTC), change count — followed by changes and 'R's, then 'Z'
/// change  : 'I' rel tuple | 'U' rel old-kind [tuple] tuple | 'D' rel old-kind tuple | 'T' n rel… options | 'M' prefix content
/// 'E'     : transaction count, change count, end LSN
/// tuple   : column count (u16), then per column: 'n' | 'u' | 't' length(7-bit) bytes
/// </code>
/// </summary>
internal static class SegmentFormat
{
    public static ReadOnlySpan<byte> Magic => "PGEGSEG\u0001"u8;

    public const byte Relation = (byte)'R';
    public const byte Transaction = (byte)'X';
    public const byte TransactionEnd = (byte)'Z';
    public const byte End = (byte)'E';

    public const byte OldNone = 0;
    public const byte OldKey = (byte)'K';
    public const byte OldFull = (byte)'O';

    /// <summary>Staged segments live under this prefix of the object store, per slot, named by their LSN range.</summary>
    public static string Path(string slot, ulong startLsn, ulong endLsn) => $"{Prefix(slot)}{startLsn:X16}-{endLsn:X16}.seg";

    public static string Prefix(string slot) => $"_staging/{slot}/";

    public static void WriteRelation(BinaryWriter w, RelationSchema r)
    {
        w.Write(Relation);
        w.Write(r.RelationId);
        w.Write(r.Namespace);
        w.Write(r.Name);
        w.Write((byte)r.ReplicaIdentity);
        w.Write((ushort)r.Columns.Count);
        foreach (var c in r.Columns)
        {
            w.Write(c.Name);
            w.Write(c.TypeOid);
            w.Write(c.TypeModifier);
            w.Write(c.TypeName);
            w.Write(c.Nullable);
            w.Write(c.IsKey);
        }
    }

    public static RelationSchema ReadRelation(BinaryReader r)
    {
        var id = r.ReadUInt32();
        var ns = r.ReadString();
        var name = r.ReadString();
        var identity = (char)r.ReadByte();
        var columns = new ColumnSchema[r.ReadUInt16()];
        for (var i = 0; i < columns.Length; i++)
            columns[i] = new ColumnSchema(r.ReadString(), r.ReadUInt32(), r.ReadInt32(), r.ReadString(), r.ReadBoolean(), r.ReadBoolean());
        return new RelationSchema(id, ns, name, identity, columns);
    }
}
