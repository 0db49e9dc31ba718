using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PgEgress.Core.Verification;

/// <summary>
/// The one encoding both sides hash, in C# for the files and in SQL for the database: per column
/// <c>octet_length(v) || ':' || v</c> of the value's text output, <c>N</c> for NULL, concatenated. The length prefix
/// makes it unambiguous (no separator can be faked by a value), and <c>N</c> cannot start an encoded value.
/// A row's bucket is the md5 hex of its key's encoding; its hash the first 60 bits of the md5 of all its columns,
/// summed per bucket as numeric (no overflow).
/// </summary>
public static class RowEncoding
{
    /// <summary>Hex digits of a bucket at the first level; each bisection adds <see cref="DigitsPerLevel"/>.</summary>
    public const int FirstLevelDigits = 2;

    public const int DigitsPerLevel = 2;

    public const int MaxDigits = 32;

    public static string KeyHash(string?[] values, IReadOnlyList<int> keyColumns) =>
        Convert.ToHexStringLower(MD5.HashData(Encode(keyColumns.Select(i => values[i]))));

    public static long RowHash(string?[] values) =>
        (long)(BinaryPrimitives.ReadUInt64BigEndian(MD5.HashData(Encode(values))) >> 4);

    private static byte[] Encode(IEnumerable<string?> values)
    {
        var sb = new StringBuilder();
        foreach (var v in values)
        {
            if (v is null) sb.Append('N');
            else sb.Append(Encoding.UTF8.GetByteCount(v).ToString(CultureInfo.InvariantCulture)).Append(':').Append(v);
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>The SQL of the encoding over <paramref name="columns"/> of alias t. concat() calls the type's output
    /// function, as COPY and pgoutput do (a cast to text need not: true::text is 'true', its output 't').</summary>
    public static string Sql(IEnumerable<string> columns) =>
        "(" + string.Join(" || ", columns.Select(c =>
        {
            var v = $"concat(t.{Replication.Sql.Ident(c)})";
            return $"CASE WHEN t.{Replication.Sql.Ident(c)} IS NULL THEN 'N' ELSE octet_length({v})::text || ':' || {v} END";
        }).DefaultIfEmpty("''")) + ")";

    /// <summary>The SQL of the 60-bit row hash over the encoding.</summary>
    public static string RowHashSql(IEnumerable<string> columns) => $"('x' || substr(md5({Sql(columns)}), 1, 15))::bit(60)::bigint";
}
