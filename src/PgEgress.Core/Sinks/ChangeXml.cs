using System.Globalization;
using System.Text;
using System.Xml;
using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks;

/// <summary>
/// A change as XML (<c>&lt;change xmlns="urn:pgegress:change:1"&gt;</c>), the data of an Http sink with Format Xml: the
/// same fields as <see cref="ChangeJson"/>, each column a <c>&lt;column name="…" type="…"&gt;</c> element holding
/// PostgreSQL's text for the value (booleans as xs:boolean <c>true</c>/<c>false</c>). NULL is <c>null="true"</c> (an empty
/// element is the empty string); bytea, and any text XML 1.0 cannot carry (control characters), is
/// <c>encoding="base64"</c>: the bytes for bytea, the UTF-8 of the text otherwise. CR and tabs are written as character
/// references, so a standard parser returns every value exactly.
/// </summary>
public static class ChangeXml
{
    public const string Namespace = "urn:pgegress:change:1";
    private const uint Bool = 16, Bytea = 17;

    public static void Write(XmlWriter w, SinkEvent e, string slot)
    {
        var relation = e.Row.Relation;
        w.WriteStartElement("change", Namespace);
        w.WriteElementString("id", Namespace, e.Id);
        w.WriteElementString("pipeline", Namespace, slot);
        w.WriteElementString("op", Namespace, e.Operation);
        w.WriteElementString("schema", Namespace, relation.Namespace);
        w.WriteElementString("table", Namespace, relation.Name);
        w.WriteElementString("lsn", Namespace, PgText.Lsn(e.Txn.EndLsn));
        w.WriteElementString("seq", Namespace, e.Seq.ToString(CultureInfo.InvariantCulture));
        w.WriteElementString("xid", Namespace, e.Txn.Xid.ToString(CultureInfo.InvariantCulture));
        w.WriteElementString("commit_ts", Namespace, Timestamp(e.Txn.CommitTimestamp));
        if (e.Row.Values is { } values)
        {
            w.WriteStartElement("key", Namespace);
            foreach (var i in ChangeColumns.Key(e.Row)) Column(w, relation.Columns[i], values[i]);
            w.WriteEndElement();
            w.WriteStartElement("record", Namespace);
            foreach (var i in ChangeColumns.Record(e.Row)) Column(w, relation.Columns[i], values[i]);
            w.WriteEndElement();
            w.WriteStartElement("unchanged_toast", Namespace);
            foreach (var i in ChangeColumns.UnchangedToast(e.Row))
            {
                w.WriteStartElement("column", Namespace);
                w.WriteAttributeString("name", relation.Columns[i].Name);
                w.WriteEndElement();
            }
            w.WriteEndElement();
        }
        w.WriteEndElement();
    }

    /// <summary>RFC 3339 in UTC with the fraction PostgreSQL keeps (microseconds), as xs:dateTime reads it.</summary>
    public static string Timestamp(DateTime utc) =>
        DateTime.SpecifyKind(utc, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private static void Column(XmlWriter w, ColumnSchema column, TupleValue value)
    {
        w.WriteStartElement("column", Namespace);
        w.WriteAttributeString("name", column.Name);
        w.WriteAttributeString("type", column.TypeName);
        if (value.Kind != ValueKind.Text)
        {
            w.WriteAttributeString("null", "true");
            w.WriteEndElement();
            return;
        }
        var text = value.Text!;
        if (column.TypeOid == Bytea && HexBytea(text) is { } bytes)
        {
            w.WriteAttributeString("encoding", "base64");
            w.WriteBase64(bytes, 0, bytes.Length);
        }
        else if (column.TypeOid == Bool) w.WriteString(text is [(byte)'t'] ? "true" : "false");
        else
        {
            var s = Encoding.UTF8.GetString(text);
            if (IsXmlText(s)) w.WriteString(s);
            else
            {
                w.WriteAttributeString("encoding", "base64");
                w.WriteBase64(text, 0, text.Length);
            }
        }
        w.WriteEndElement();
    }

    /// <summary>The bytes of bytea's hex output (<c>\x00ff</c>); null for any other form.</summary>
    private static byte[]? HexBytea(byte[] text)
    {
        if (text.Length < 2 || text[0] != (byte)'\\' || text[1] != (byte)'x') return null;
        try
        {
            return Convert.FromHexString(Encoding.ASCII.GetString(text, 2, text.Length - 2));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>Whether every character (surrogate pairs included) is allowed in XML 1.0 text.</summary>
    private static bool IsXmlText(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && XmlConvert.IsXmlSurrogatePair(s[i + 1], s[i])) i++;
            else if (!XmlConvert.IsXmlChar(s[i])) return false;
        }
        return true;
    }
}
