namespace PgEgress.Core.History;

/// <summary>
/// The row a history asks for, from the query: <c>key=…</c> for a table whose key is one column, <c>key.{column}=…</c>
/// for each column of a longer one. Values are PostgreSQL's text for the type, as the files hold them.
/// </summary>
public sealed record RowKey(IReadOnlyDictionary<string, string> Values)
{
    public const string Single = "key";
    public const string PerColumnPrefix = "key.";

    /// <summary>The key from the query's parameters, or why it is not one (the table's key columns are known only per file, later).</summary>
    public static RowKey? Parse(IEnumerable<KeyValuePair<string, string?>> query, out string? problem)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string? single = null;
        foreach (var (name, value) in query)
        {
            if (name == Single) single = value;
            else if (name.StartsWith(PerColumnPrefix, StringComparison.Ordinal) && name.Length > PerColumnPrefix.Length)
            {
                if (!values.TryAdd(name[PerColumnPrefix.Length..], value ?? ""))
                {
                    problem = $"'{name}' is given twice";
                    return null;
                }
            }
        }
        if (single is not null && values.Count > 0)
        {
            problem = "give the key either as key=… (one key column) or as key.{column}=… for each key column, not both";
            return null;
        }
        if (single is null && values.Count == 0)
        {
            problem = "the row's key is required: key=… for a table whose key is one column, key.{column}=… for each column of a longer key";
            return null;
        }
        problem = null;
        return new RowKey(single is null ? values : new Dictionary<string, string> { [""] = single });
    }

    /// <summary>key=… names no column: it is the value of the table's one key column.</summary>
    public bool IsSingleValue => Values.ContainsKey("");
}
