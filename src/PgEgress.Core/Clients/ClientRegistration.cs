using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using PgEgress.Core.Domain;
using PgEgress.Core.Output;
using PgEgress.Core.Sinks;

namespace PgEgress.Core.Clients;

/// <summary>
/// The body of <c>POST /api/clients</c>: <c>{name, tables?, operations?, start?: "now" | "earliest" | "&lt;lsn&gt;", ttl_seconds?}</c>,
/// checked member by member so that every refusal names what is wrong. Unknown members are refused (a misspelt
/// "table" must not silently mean every table).
/// </summary>
public sealed record ClientRegistration(string Name, IReadOnlyList<TableName> Tables, IReadOnlyList<string> OperationNames, string StartKind,
    ulong? StartLsn, TimeSpan? Ttl)
{
    public const int MaxNameLength = 200;
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(365);

    public IEnumerable<string> TableNames => Tables.Select(t => t.ToString());

    public static bool TryParse(ReadOnlySpan<byte> json, [NotNullWhen(true)] out ClientRegistration? registration, [NotNullWhen(false)] out string? problem)
    {
        registration = null;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            problem = $"the body is not valid JSON: {e.Message}";
            return false;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = "the body must be a JSON object such as {\"name\":\"billing\",\"tables\":[\"public.orders\"],\"start\":\"now\"}";
                return false;
            }
            string? name = null, start = null;
            List<TableName> tables = [];
            List<string> operations = [];
            TimeSpan? ttl = null;
            foreach (var member in root.EnumerateObject())
            {
                problem = member.Name switch
                {
                    "name" => ReadString(member.Value, "name", out name),
                    "start" => ReadString(member.Value, "start", out start),
                    "tables" => ReadTables(member.Value, tables),
                    "operations" => ReadOperations(member.Value, operations),
                    "ttl_seconds" => ReadTtl(member.Value, out ttl),
                    _ => $"unknown member '{member.Name}' (expected name, tables, operations, start, ttl_seconds)",
                };
                if (problem is not null) return false;
            }
            if (string.IsNullOrWhiteSpace(name) || name.Length > MaxNameLength || name.Any(char.IsControl))
            {
                problem = $"name is required: 1 to {MaxNameLength} characters, no control characters";
                return false;
            }
            start ??= "now";
            ulong? lsn = null;
            if (start is not ("now" or "earliest"))
            {
                try
                {
                    lsn = PgText.ParseLsn(start);
                }
                catch (FormatException)
                {
                    problem = $"start must be \"now\", \"earliest\" or an LSN such as 16/B374D848 (got '{start}')";
                    return false;
                }
            }
            registration = new ClientRegistration(name, tables, operations, lsn is null ? start : "lsn", lsn, ttl);
            problem = null;
            return true;
        }
    }

    private static string? ReadString(JsonElement value, string member, out string? text)
    {
        text = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        return text is null ? $"{member} must be a string" : text.Contains('\0') ? $"{member} must not contain a NUL character" : null;
    }

    private static string? ReadTables(JsonElement value, List<TableName> tables)
    {
        if (value.ValueKind != JsonValueKind.Array) return "tables must be an array of table names such as [\"public.orders\"]";
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { } text) return "tables must be an array of strings";
            if (text.Contains('\0')) return "a table name must not contain a NUL character";
            if (!TableName.TryParse(text, out var table, out var problem)) return $"tables: {problem}";
            if (!tables.Contains(table)) tables.Add(table);
        }
        return null;
    }

    private static string? ReadOperations(JsonElement value, List<string> operations)
    {
        if (value.ValueKind != JsonValueKind.Array) return "operations must be an array such as [\"insert\", \"update\"]";
        foreach (var item in value.EnumerateArray())
        {
            var text = item.ValueKind == JsonValueKind.String ? item.GetString() : null;
            if (text is null || SinkFilter.OpOf(text) == '?')
                return $"operations: '{item}' is not one of {string.Join(", ", SinkFilter.OperationNames)}";
            var normal = text.Trim().ToLowerInvariant();
            if (!operations.Contains(normal)) operations.Add(normal);
        }
        return null;
    }

    private static string? ReadTtl(JsonElement value, out TimeSpan? ttl)
    {
        ttl = null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var seconds) || seconds < 1 || seconds > MaxTtl.TotalSeconds)
            return $"ttl_seconds must be a whole number of seconds from 1 to {MaxTtl.TotalSeconds:0}";
        ttl = TimeSpan.FromSeconds(seconds);
        return null;
    }
}
