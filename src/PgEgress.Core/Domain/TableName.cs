using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace PgEgress.Core.Domain;

/// <summary>
/// A table's identity: its schema and its name, exactly as the catalog has them. Printed in PostgreSQL's quoted form
/// (each part as <c>quote_ident</c> prints it, so <c>"x.y".z</c> and <c>x."y.z"</c> stay two tables), which is also the
/// registry's key; parsed from that form with PostgreSQL's rules (unquoted parts fold to lower case).
/// </summary>
public readonly record struct TableName
{
    /// <summary>PostgreSQL's limit on an identifier (NAMEDATALEN - 1), in UTF-8 bytes.</summary>
    public const int MaxIdentifierBytes = 63;

    public TableName(string schema, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(schema);
        ArgumentException.ThrowIfNullOrEmpty(name);
        Schema = schema;
        Name = name;
    }

    public string Schema { get; }

    public string Name { get; }

    public override string ToString() => $"{QuoteIdent(Schema)}.{QuoteIdent(Name)}";

    /// <summary>PostgreSQL's <c>quote_ident</c>: quoted unless all lower-case letters, digits and '_' (not first a digit) and not a keyword.</summary>
    public static string QuoteIdent(string identifier)
    {
        var safe = identifier.Length > 0 && identifier[0] is (>= 'a' and <= 'z') or '_'
            && identifier.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_')
            && !SqlKeywords.NeedQuoting.Contains(identifier);
        return safe ? identifier : $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
    }

    /// <summary>
    /// A name as PgEgress stored it: the quoted form, or bare "schema.table" split at the first dot as markers staged
    /// before registry migration 3 wrote it (a quoted form always prints back as itself; a bare legacy one may not).
    /// </summary>
    public static TableName ParseStored(string text)
    {
        if (TryParse(text, out var name, out _) && name.ToString() == text) return name;
        var dot = text.IndexOf('.');
        return dot > 0 && dot < text.Length - 1 ? new TableName(text[..dot], text[(dot + 1)..]) : Parse(text);
    }

    public static TableName Parse(string text) =>
        TryParse(text, out var name, out var problem) ? name : throw new FormatException(problem);

    /// <summary>
    /// Reads <c>schema.table</c>: each part a quoted identifier (<c>"My ""odd"" name"</c>) or an unquoted one (letters,
    /// digits, '_' and '$', not starting with a digit or '$'), which folds A-Z to lower case as PostgreSQL does.
    /// Both parts are required; each is 1 to 63 bytes of UTF-8.
    /// </summary>
    public static bool TryParse(string? text, out TableName name, [NotNullWhen(false)] out string? problem)
    {
        name = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "a table name is required, as schema.table";
            return false;
        }
        var parts = new List<string>(2);
        var i = 0;
        while (true)
        {
            if (!ReadPart(text, ref i, out var part, out problem)) return false;
            parts.Add(part);
            if (i == text.Length) break;
            if (text[i] != '.')
            {
                problem = $"'{text}' is not a table name: unexpected '{text[i]}' at position {i + 1} (quote names with such characters, as \"name\")";
                return false;
            }
            i++;
        }
        if (parts.Count != 2)
        {
            problem = parts.Count == 1
                ? $"'{text}' has no schema: write the table as schema.table"
                : $"'{text}' has {parts.Count} dot-separated parts: write the table as schema.table (quote a name containing a dot, as \"a.b\"; other databases cannot be named)";
            return false;
        }
        foreach (var part in parts)
        {
            if (Encoding.UTF8.GetByteCount(part) > MaxIdentifierBytes)
            {
                problem = $"'{text}': the name '{part}' is {Encoding.UTF8.GetByteCount(part)} bytes long; PostgreSQL names are at most {MaxIdentifierBytes} bytes";
                return false;
            }
        }
        name = new TableName(parts[0], parts[1]);
        problem = null;
        return true;
    }

    private static bool ReadPart(string text, ref int i, out string part, [NotNullWhen(false)] out string? problem)
    {
        part = "";
        if (i < text.Length && text[i] == '"')
        {
            var sb = new StringBuilder();
            for (i++; ; i++)
            {
                if (i == text.Length)
                {
                    problem = $"'{text}' is not a table name: a quoted name is not closed";
                    return false;
                }
                if (text[i] != '"')
                {
                    sb.Append(text[i]);
                    continue;
                }
                if (i + 1 < text.Length && text[i + 1] == '"')
                {
                    sb.Append('"');
                    i++;
                    continue;
                }
                i++;
                break;
            }
            if (sb.Length == 0)
            {
                problem = $"'{text}' is not a table name: a quoted name is empty";
                return false;
            }
            part = sb.ToString();
            problem = null;
            return true;
        }
        var start = i;
        while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '$' || char.IsSurrogate(text[i]))) i++;
        if (i == start || char.IsDigit(text[start]) || text[start] == '$')
        {
            problem = i == start
                ? $"'{text}' is not a table name: a name is missing at position {start + 1} of schema.table"
                : $"'{text}' is not a table name: an unquoted name cannot start with '{text[start]}'";
            return false;
        }
        part = FoldAsciiUpper(text[start..i]);
        problem = null;
        return true;
    }

    private static string FoldAsciiUpper(string s) =>
        string.Create(s.Length, s, (span, src) =>
        {
            for (var k = 0; k < src.Length; k++) span[k] = src[k] is >= 'A' and <= 'Z' ? (char)(src[k] + 32) : src[k];
        });
}
