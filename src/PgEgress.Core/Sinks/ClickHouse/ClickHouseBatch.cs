using System.Text;
using PgEgress.Core.Output;
using PgEgress.Core.Sinks.Postgres;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.ClickHouse;

/// <summary>
/// Rows waiting for one INSERT per table, collapsed to the last change of each key: every row of a transaction then
/// has a distinct (key, _version = the transaction's end LSN), so a later change always wins under FINAL and a replay
/// inserts the very same rows again. A transaction split over two batches (larger than the batch) gives one key two
/// rows with the same version; ClickHouse keeps the last inserted, which is the later change.
/// </summary>
public sealed class ClickHouseBatch
{
    private sealed record Pending(TupleValue[] Values, bool Deleted, TransactionInfo Txn);

    private readonly Dictionary<ClickHouseTable, Dictionary<string, Pending>> _tables = [];

    /// <summary>Changes added (before collapsing): what the sink counts as delivered.</summary>
    public int Changes { get; private set; }

    public long Bytes { get; private set; }

    public DateTime? OldestCommit { get; private set; }

    public IEnumerable<ClickHouseTable> Tables => _tables.Keys;

    /// <exception cref="TargetTableException">An update left a TOASTed value unchanged that neither the stream nor this batch has.</exception>
    public void Add(string sink, ClickHouseTable table, TransactionInfo txn, ChangeRow row)
    {
        if (!_tables.TryGetValue(table, out var rows)) _tables[table] = rows = new(StringComparer.Ordinal);
        var key = KeyOf(table, row.Values!);
        var values = row.Values!;
        if (values.Any(v => v.Kind == ValueKind.UnchangedToast))
        {
            // The stream sends an unchanged TOASTed value only under REPLICA IDENTITY FULL (ChangeRows fills it then);
            // an earlier change of the row in this batch has it too. Otherwise the value is not known here.
            if (!rows.TryGetValue(key, out var before) || before.Deleted)
            {
                var column = table.Relation.Columns[Array.FindIndex(values, v => v.Kind == ValueKind.UnchangedToast)].Name;
                throw new TargetTableException(table.Relation.QualifiedName,
                    $"Sink '{sink}': an update of {table.Relation.QualifiedName} left the TOASTed column {column} unchanged and the stream did not send its value; set REPLICA IDENTITY FULL on the table");
            }
            values = values.Select((v, i) => v.Kind == ValueKind.UnchangedToast ? before.Values[i] : v).ToArray();
        }
        rows[key] = new Pending(values, row.Op == 'D', txn);
        Changes++;
        Bytes += values.Sum(v => (long)(v.Text?.Length ?? 1) + 1);
        OldestCommit ??= txn.CommitTimestamp;
    }

    /// <summary>The table's rows as TabSeparated text, in the column order of <see cref="ClickHouseTable.InsertStatement"/>.</summary>
    /// <exception cref="TargetTableException">A value ClickHouse's column type cannot hold.</exception>
    public byte[] Render(string sink, ClickHouseTable table)
    {
        var b = new StringBuilder();
        var columns = table.Relation.Columns;
        foreach (var row in _tables[table].Values)
        {
            for (var i = 0; i < columns.Count; i++)
            {
                // A delete carries the key (or, under REPLICA IDENTITY FULL, the old row); only the key matters for it.
                var value = row.Deleted && !columns[i].IsKey ? TupleValue.Null : row.Values[i];
                var text = ClickHouseTypes.Tsv(columns[i], value, out var problem)
                    ?? throw new TargetTableException(table.Relation.QualifiedName, $"Sink '{sink}': column {columns[i].Name} of {table.Relation.QualifiedName}: {problem}");
                b.Append(text).Append('\t');
            }
            b.Append(row.Txn.EndLsn).Append('\t').Append(row.Deleted ? '1' : '0').Append('\t').Append(PgText.Lsn(row.Txn.EndLsn)).Append('\t')
                .Append(row.Txn.CommitTimestamp.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        }
        return Encoding.UTF8.GetBytes(b.ToString());
    }

    public void Clear()
    {
        _tables.Clear();
        (Changes, Bytes, OldestCommit) = (0, 0, null);
    }

    private static string KeyOf(ClickHouseTable table, TupleValue[] values)
    {
        var b = new StringBuilder();
        foreach (var i in table.Key)
            b.Append(values[i].Kind == ValueKind.Null ? "\\N" : ClickHouseTypes.Escape(Encoding.UTF8.GetString(values[i].Text ?? []))).Append('\t');
        return b.ToString();
    }
}
