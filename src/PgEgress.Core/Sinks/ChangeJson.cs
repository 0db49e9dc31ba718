using System.Buffers;
using System.Text;
using System.Text.Json;
using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks;

/// <summary>
/// A change as JSON, the payload of every push sink: operation, table, position, commit time, the key, the row's values
/// and the columns left out as unchanged TOAST. Numbers, booleans and json/jsonb are JSON values; everything else is
/// PostgreSQL's own text for the type.
/// </summary>
public static class ChangeJson
{
    private const uint Bool = 16, Int8 = 20, Int2 = 21, Int4 = 23, Oid = 26, Json = 114, Float4 = 700, Float8 = 701, Numeric = 1700, Jsonb = 3802;

    public static byte[] Serialize(SinkEvent e, string slot)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
            Write(w, e, slot);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Utf8JsonWriter w, SinkEvent e, string slot)
    {
        var relation = e.Row.Relation;
        w.WriteStartObject();
        w.WriteString("id", e.Id);
        w.WriteString("pipeline", slot);
        w.WriteString("op", e.Operation);
        w.WriteString("schema", relation.Namespace);
        w.WriteString("table", relation.Name);
        w.WriteString("lsn", PgText.Lsn(e.Txn.EndLsn));
        w.WriteNumber("seq", e.Seq);
        w.WriteNumber("xid", e.Txn.Xid);
        w.WriteString("commit_ts", DateTime.SpecifyKind(e.Txn.CommitTimestamp, DateTimeKind.Utc));
        if (e.Row.Values is { } values)
        {
            w.WriteStartObject("key");
            foreach (var i in ChangeColumns.Key(e.Row)) Value(w, relation.Columns[i], values[i]);
            w.WriteEndObject();
            w.WriteStartObject("record");
            foreach (var i in ChangeColumns.Record(e.Row)) Value(w, relation.Columns[i], values[i]);
            w.WriteEndObject();
            w.WriteStartArray("unchanged_toast");
            foreach (var i in ChangeColumns.UnchangedToast(e.Row)) w.WriteStringValue(relation.Columns[i].Name);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void Value(Utf8JsonWriter w, ColumnSchema column, TupleValue value)
    {
        w.WritePropertyName(column.Name);
        if (value.Kind != ValueKind.Text)
        {
            w.WriteNullValue();
            return;
        }
        var text = value.Text!;
        switch (column.TypeOid)
        {
            case Bool:
                w.WriteBooleanValue(text is [(byte)'t']);
                break;
            case Int2 or Int4 or Int8 or Oid or Float4 or Float8 or Numeric when IsJsonNumber(text):
                w.WriteRawValue(text, skipInputValidation: true);
                break;
            case Json or Jsonb:
                w.WriteRawValue(text);
                break;
            default:
                w.WriteStringValue(Encoding.UTF8.GetString(text));
                break;
        }
    }

    /// <summary>NaN, Infinity and numeric's special values are not JSON numbers; they stay strings.</summary>
    private static bool IsJsonNumber(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty) return false;
        var i = text[0] == (byte)'-' ? 1 : 0;
        if (i >= text.Length || !char.IsAsciiDigit((char)text[i])) return false;
        if (text[i] == (byte)'0' && i + 1 < text.Length && char.IsAsciiDigit((char)text[i + 1])) return false;
        foreach (var b in text[i..])
            if (!(char.IsAsciiDigit((char)b) || b is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')) return false;
        return true;
    }
}
