using System.Globalization;
using System.Text;

namespace PgEgress.Core.Output;

/// <summary>PostgreSQL text forms of the values PgEgress itself writes (metadata columns).</summary>
public static class PgText
{
    /// <summary>The pg_lsn text form, e.g. 16/B374D848.</summary>
    public static string Lsn(ulong lsn) => $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}";

    public static ulong ParseLsn(string text)
    {
        var slash = text.IndexOf('/');
        if (slash <= 0
            || !uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hi)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lo))
            throw new FormatException($"'{text}' is not an LSN (expected the pg_lsn form such as 16/B374D848)");
        return ((ulong)hi << 32) | lo;
    }

    /// <summary>timestamptz as PostgreSQL prints it in UTC with ISO DateStyle: trailing zeros of the fraction dropped.</summary>
    public static string TimestampTz(DateTime utc)
    {
        var text = utc.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.');
        return text + "+00";
    }

    /// <summary>The elements of a one-dimensional text[] literal without NULLs, such as <c>{body,"my col"}</c> (what <see cref="TextArray"/> writes); empty for <c>{}</c> or null.</summary>
    public static IReadOnlyList<string> ParseTextArray(string? literal)
    {
        if (literal is not { Length: > 2 }) return [];
        var items = new List<string>();
        var item = new StringBuilder();
        var quoted = false;
        for (var i = 1; i < literal.Length - 1; i++)
        {
            var c = literal[i];
            if (quoted && c == '\\') item.Append(literal[++i]);
            else if (c == '"') quoted = !quoted;
            else if (!quoted && c == ',')
            {
                items.Add(item.ToString());
                item.Clear();
            }
            else item.Append(c);
        }
        items.Add(item.ToString());
        return items;
    }

    /// <summary>A text[] literal such as {body,"my col"}, quoting elements the way array_out does.</summary>
    public static string TextArray(IEnumerable<string> items)
    {
        var sb = new StringBuilder("{");
        var first = true;
        foreach (var item in items)
        {
            if (!first) sb.Append(',');
            first = false;
            var quote = item.Length == 0 || item.Equals("NULL", StringComparison.OrdinalIgnoreCase)
                || item.Any(c => c is '{' or '}' or ',' or '"' or '\\' || char.IsWhiteSpace(c));
            if (!quote)
            {
                sb.Append(item);
                continue;
            }
            sb.Append('"');
            foreach (var c in item)
            {
                if (c is '"' or '\\') sb.Append('\\');
                sb.Append(c);
            }
            sb.Append('"');
        }
        return sb.Append('}').ToString();
    }
}
