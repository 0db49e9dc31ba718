using PgEgress.Core.Sinks.Postgres;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.ClickHouse;

/// <summary>
/// The ClickHouse table of one source table: {database}.`{schema}__{table}`, ReplacingMergeTree(_version) ordered by the
/// source key, with the source columns (mapped by <see cref="ClickHouseTypes"/>) and the sink's own
/// _version, _is_deleted, _lsn and _commit_ts. Current state: SELECT … FROM t FINAL WHERE _is_deleted = 0.
/// </summary>
public sealed class ClickHouseTable
{
    /// <summary>The sink's own columns, after the source's.</summary>
    public static readonly string[] OwnColumns = ["_version", "_is_deleted", "_lsn", "_commit_ts"];

    private ClickHouseTable(RelationSchema relation, string name, IReadOnlyList<int> key)
    {
        (Relation, Name, Key) = (relation, name, key);
    }

    public RelationSchema Relation { get; }

    /// <summary>database.`schema__table`, quoted.</summary>
    public string Name { get; }

    /// <summary>Indexes of the key columns: the ORDER BY, and what identifies a row in a batch.</summary>
    public IReadOnlyList<int> Key { get; }

    /// <exception cref="TargetTableException">The table has no key ClickHouse can order by, or a column named like the sink's own.</exception>
    public static ClickHouseTable For(string sink, string database, RelationSchema relation)
    {
        var key = relation.Columns.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i).ToList();
        if (key.Count == 0)
            throw new TargetTableException(relation.QualifiedName, $"Sink '{sink}': table {relation.QualifiedName} has no key; a ClickHouse table is ordered by the source's primary key");
        // A table without primary key is keyed by all its columns; ClickHouse cannot order by a Nullable one.
        if (relation.Columns.FirstOrDefault(c => c.IsKey && c.Nullable) is { } nullable)
            throw new TargetTableException(relation.QualifiedName,
                $"Sink '{sink}': table {relation.QualifiedName} has no primary key and its key column {nullable.Name} is nullable; ClickHouse cannot order by a Nullable column: add a primary key");
        if (relation.Columns.FirstOrDefault(c => OwnColumns.Contains(c.Name, StringComparer.Ordinal)) is { } clash)
            throw new TargetTableException(relation.QualifiedName, $"Sink '{sink}': table {relation.QualifiedName} has a column {clash.Name}, a name the ClickHouse sink uses itself");
        var name = $"{ClickHouseHttp.Quote(database)}.{ClickHouseHttp.Quote($"{relation.Namespace}__{relation.Name}")}";
        return new ClickHouseTable(relation, name, key);
    }

    /// <summary>CREATE TABLE IF NOT EXISTS: key columns as they map, every other column Nullable (a delete's row carries only the key).</summary>
    public string CreateStatement()
    {
        var columns = Relation.Columns.Select(c => $"{ClickHouseHttp.Quote(c.Name)} {(c.IsKey ? ClickHouseTypes.Of(c) : $"Nullable({ClickHouseTypes.Of(c)})")}")
            .Concat(["_version UInt64", "_is_deleted UInt8", "_lsn String", "_commit_ts DateTime('UTC')"]);
        var order = string.Join(", ", Key.Select(i => ClickHouseHttp.Quote(Relation.Columns[i].Name)));
        return $"CREATE TABLE IF NOT EXISTS {Name} ({string.Join(", ", columns)}) ENGINE = ReplacingMergeTree(_version) ORDER BY ({order})";
    }

    public string InsertStatement() =>
        $"INSERT INTO {Name} ({string.Join(", ", Relation.Columns.Select(c => ClickHouseHttp.Quote(c.Name)).Concat(OwnColumns))}) FORMAT TabSeparated";
}
