using PgEgress.Core.Domain;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;

namespace PgEgress.Core.Sinks;

/// <summary>Which changes a sink delivers: its tables (all when none are listed) and operations (all when none are listed).</summary>
public sealed class SinkFilter(SinkOptions options)
{
    private readonly HashSet<TableName> _tables = [.. options.Tables.Select(TableName.Parse)];
    private readonly HashSet<char> _ops = [.. options.Operations.Select(OpOf)];

    public static readonly string[] OperationNames = ["insert", "update", "delete", "truncate"];

    /// <summary>A key-changing update arrives as D + I: both halves are an "update" for the filter.</summary>
    public bool Accepts(in ChangeRow row) =>
        (_tables.Count == 0 || _tables.Contains(row.Relation.Table)) && (_ops.Count == 0 || _ops.Contains(row.KeyChange ? 'U' : row.Op));

    public static char OpOf(string name) => name.Trim().ToLowerInvariant() switch
    {
        "insert" => 'I',
        "update" => 'U',
        "delete" => 'D',
        "truncate" => 'T',
        _ => '?',
    };
}
