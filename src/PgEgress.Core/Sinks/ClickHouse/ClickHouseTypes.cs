using System.Globalization;
using System.Text;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.ClickHouse;

/// <summary>
/// The PostgreSQL → ClickHouse type mapping (README, ClickHouse sink) and each value's text in ClickHouse's
/// TabSeparated input. Only types that ClickHouse 18.16 and current versions both have are used.
/// </summary>
public static class ClickHouseTypes
{
    private const uint Bool = 16, Int8 = 20, Int2 = 21, Int4 = 23, Float4 = 700, Float8 = 701, TimestampTz = 1184, Numeric = 1700;

    /// <summary>DateTime's range: seconds since 1970 in an unsigned 32-bit number.</summary>
    private static readonly DateTime MinDateTime = new(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc), MaxDateTime = new(2105, 12, 31, 23, 59, 59, DateTimeKind.Utc);

    /// <summary>The ClickHouse type of a column, without Nullable.</summary>
    public static string Of(ColumnSchema column) => column.TypeOid switch
    {
        Int2 => "Int16",
        Int4 => "Int32",
        Int8 => "Int64",
        Float4 => "Float32",
        Float8 => "Float64",
        Bool => "UInt8",
        TimestampTz => "DateTime('UTC')",
        Numeric when NumericPrecision(column.TypeModifier) is var (p, s) && p is >= 1 and <= 38 && s >= 0 && s <= p => $"Decimal({p}, {s})",
        _ => "String",
    };

    private static (int Precision, int Scale) NumericPrecision(int typmod) =>
        typmod < 4 ? (0, 0) : (((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0x7FF);

    /// <summary>The value as TabSeparated text (escaped, \N for NULL); null when ClickHouse's type cannot hold it, with the reason.</summary>
    public static string? Tsv(ColumnSchema column, TupleValue value, out string? problem)
    {
        problem = null;
        if (value.Kind == ValueKind.Null) return "\\N";
        var text = Encoding.UTF8.GetString(value.Text!);
        switch (column.TypeOid)
        {
            case Bool:
                return text == "t" ? "1" : "0";
            case TimestampTz:
                if (!TryUtc(text, out var utc) || utc < MinDateTime || utc > MaxDateTime)
                {
                    problem = $"'{text}' is outside ClickHouse DateTime's range (1970 to 2105)";
                    return null;
                }
                return utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            // NaN and Infinity: a numeric(p,s) can hold them, a Decimal cannot.
            case Numeric when Of(column) != "String" && !text.All(c => char.IsAsciiDigit(c) || c is '-' or '.'):
                problem = $"'{text}' is not a number ClickHouse's Decimal can hold";
                return null;
            default:
                return Escape(text);
        }
    }

    /// <summary>PostgreSQL's ISO text of a timestamptz ("2026-01-02 03:04:05.123456+02", "+05:30", "+05:30:15") in UTC; the fraction is dropped (DateTime has seconds).</summary>
    private static bool TryUtc(string text, out DateTime utc)
    {
        utc = default;
        var sign = text.LastIndexOfAny(['+', '-']);
        if (sign < 19 || text.EndsWith(" BC", StringComparison.Ordinal)) return false;
        var offset = text[(sign + 1)..].Split(':');
        if (!DateTime.TryParseExact(text[..Math.Min(sign, 19)], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local)) return false;
        var seconds = 0;
        for (var i = 0; i < offset.Length; i++)
        {
            if (!int.TryParse(offset[i], NumberStyles.None, CultureInfo.InvariantCulture, out var part)) return false;
            seconds += part * (i == 0 ? 3600 : i == 1 ? 60 : 1);
        }
        utc = DateTime.SpecifyKind(local.AddSeconds(text[sign] == '+' ? -seconds : seconds), DateTimeKind.Utc);
        return true;
    }

    /// <summary>TabSeparated escaping: the backslash, tab and line breaks as ClickHouse reads them back.</summary>
    public static string Escape(string text)
    {
        if (text.AsSpan().IndexOfAny("\\\t\n\r") < 0) return text;
        var b = new StringBuilder(text.Length + 8);
        foreach (var c in text)
            b.Append(c switch { '\\' => "\\\\", '\t' => "\\t", '\n' => "\\n", '\r' => "\\r", _ => c.ToString() });
        return b.ToString();
    }
}
