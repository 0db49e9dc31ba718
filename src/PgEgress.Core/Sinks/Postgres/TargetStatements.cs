using System.Text;
using PgEgress.Core.Replication;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>One statement and, in parameter order, the columns of the row whose values it binds.</summary>
/// <param name="OldKeyColumns">For a move, the old row's key columns, bound after the row's.</param>
internal sealed record TargetStatement(string Sql, int[] Columns, int[]? OldKeyColumns = null);

/// <summary>
/// The SQL that applies rows of one relation shape to its target table (same schema and name). Identifiers are quoted;
/// every value is a text bind parameter cast to the target column's type, as the target's format_type writes it.
/// </summary>
internal sealed class TargetStatements
{
    private readonly int[] _keyColumns;
    private readonly string[] _types;
    private readonly TargetStatement _insertAll;
    private readonly Dictionary<string, TargetStatement> _insertSome = new(StringComparer.Ordinal);

    /// <param name="types">Each column's type on the target, as the target's format_type wrote it (<see cref="TargetTableSetup"/>).</param>
    public TargetStatements(RelationSchema relation, string[] types)
    {
        Relation = relation;
        _types = types;
        Fingerprint = relation.Fingerprint;
        Table = QuotedName(relation);
        HasRealKey = HasRealKeyOf(relation);
        _keyColumns = Enumerable.Range(0, relation.Columns.Count).Where(i => relation.Columns[i].IsKey).ToArray();
        _insertAll = BuildInsert(Enumerable.Range(0, relation.Columns.Count).ToArray());
        Delete = HasRealKey ? BuildKeyDelete() : BuildOneRowDelete();
        Truncate = new TargetStatement($"TRUNCATE {Table}", []);
    }

    public RelationSchema Relation { get; }

    public static string QuotedName(RelationSchema relation) => Sql.Ident(relation.Namespace) + "." + Sql.Ident(relation.Name);

    /// <summary>Some column is not part of the key; otherwise the key is the whole row and duplicates are allowed.</summary>
    public static bool HasRealKeyOf(RelationSchema relation) => relation.Columns.Any(c => !c.IsKey);

    public string Fingerprint { get; }

    /// <summary>The quoted schema-qualified target table.</summary>
    public string Table { get; }

    /// <summary>Some column is not part of the key; otherwise the key is the whole row and duplicates are allowed.</summary>
    public bool HasRealKey { get; }

    /// <summary>Deletes the row with the row's key; for a whole-row key, exactly one of the identical rows.</summary>
    public TargetStatement Delete { get; }

    public TargetStatement Truncate { get; }

    /// <summary>
    /// Inserts the row's columns that carry a value (not unchanged TOAST); with a real key, an upsert on it that updates
    /// only those columns, so replays are harmless and an unchanged TOAST value keeps the target's.
    /// </summary>
    public TargetStatement Upsert(TupleValue[] row)
    {
        if (!HasUnchanged(row)) return _insertAll;
        var mask = string.Create(row.Length, row, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = r[i].Kind == ValueKind.UnchangedToast ? '0' : '1';
        });
        if (!_insertSome.TryGetValue(mask, out var statement))
            _insertSome[mask] = statement = BuildInsert(Enumerable.Range(0, row.Length).Where(i => mask[i] == '1').ToArray());
        return statement;
    }

    /// <summary>
    /// For a key-changing update whose new row has unchanged TOAST values (sent as a D of the old key, then an I): moves the
    /// old target row to the new key, setting the columns that carry a value and keeping the rest — unless the new key is
    /// already taken. Follow it with <see cref="Upsert"/> of the new row and <see cref="Delete"/> of the old, which complete
    /// the change whether or not the move found its row.
    /// </summary>
    public TargetStatement Move(TupleValue[] newRow)
    {
        var present = Upsert(newRow).Columns;
        var sql = new StringBuilder($"UPDATE {Table} SET ");
        sql.AppendJoin(", ", present.Select((c, p) => $"{Column(c)} = {Param(p + 1, c)}"));
        sql.Append(" WHERE ").Append(KeyMatch(present.Length + 1));
        sql.Append($" AND NOT EXISTS (SELECT FROM {Table} WHERE ");
        sql.AppendJoin(" AND ", _keyColumns.Select(c => $"{Column(c)} {Eq(c)} {Param(Array.IndexOf(present, c) + 1, c)}"));
        sql.Append(')');
        return new TargetStatement(sql.ToString(), present, _keyColumns);
    }

    public static bool HasUnchanged(TupleValue[] row) => Array.Exists(row, v => v.Kind == ValueKind.UnchangedToast);

    private TargetStatement BuildInsert(int[] columns)
    {
        var sql = new StringBuilder($"INSERT INTO {Table} (");
        sql.AppendJoin(", ", columns.Select(Column));
        sql.Append(") VALUES (").AppendJoin(", ", columns.Select((c, p) => Param(p + 1, c))).Append(')');
        if (HasRealKey)
        {
            sql.Append(" ON CONFLICT (").AppendJoin(", ", _keyColumns.Select(Column)).Append(')');
            var set = columns.Where(c => !Relation.Columns[c].IsKey).Select(c => $"{Column(c)} = EXCLUDED.{Column(c)}").ToList();
            if (set.Count == 0) sql.Append(" DO NOTHING");
            else sql.Append(" DO UPDATE SET ").AppendJoin(", ", set);
        }
        return new TargetStatement(sql.ToString(), columns);
    }

    private TargetStatement BuildKeyDelete() => new($"DELETE FROM {Table} WHERE {KeyMatch(1)}", _keyColumns);

    // Identical rows are allowed without a real key, so delete one of them. (tableoid, ctid) names one row even in a
    // partitioned or inherited target. Columns compare as their text output, both sides printed by the target: exact
    // for the row inserted from that text, and it works for types without an equality operator (json, xml, point).
    private TargetStatement BuildOneRowDelete()
    {
        var all = Enumerable.Range(0, Relation.Columns.Count).ToArray();
        var match = string.Join(" AND ", all.Select(c => $"{Column(c)}::text IS NOT DISTINCT FROM {Param(c + 1, c)}::text"));
        return new TargetStatement($"DELETE FROM {Table} WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM {Table} WHERE {match} LIMIT 1)", all);
    }

    // Key columns are NOT NULL (primary key, replica-identity index), where "=" is NULL-safe and, unlike IS NOT DISTINCT
    // FROM, can use the key's index.
    private string KeyMatch(int firstParam) =>
        string.Join(" AND ", _keyColumns.Select((c, p) => $"{Column(c)} {Eq(c)} {Param(firstParam + p, c)}"));

    private string Eq(int column) => Relation.Columns[column].Nullable ? "IS NOT DISTINCT FROM" : "=";

    private string Column(int column) => Sql.Ident(Relation.Columns[column].Name);

    private string Param(int number, int column) => $"${number}::{_types[column]}";
}
