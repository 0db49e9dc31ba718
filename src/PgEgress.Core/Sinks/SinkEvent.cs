using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks;

/// <summary>One row change of a committed transaction, as a sink delivers it.</summary>
/// <param name="Seq">The row's place in its transaction, numbered as in the batch files' _seq.</param>
public sealed record SinkEvent(TransactionInfo Txn, int Seq, ChangeRow Row)
{
    /// <summary>Deterministic: the same change has the same id in every delivery and every replay ("16/B374D848-3").</summary>
    public string Id => $"{PgText.Lsn(Txn.EndLsn)}-{Seq}";

    public string Operation => Row.Op switch
    {
        'I' => "insert",
        'U' => "update",
        'D' => "delete",
        _ => "truncate",
    };

    /// <summary>{schema}.{table}.{inserted|updated|deleted|truncated}: the CloudEvents type and the Hook0 event type.</summary>
    public string EventType => $"{Row.Relation.QualifiedName}.{Row.Op switch { 'I' => "inserted", 'U' => "updated", 'D' => "deleted", _ => "truncated" }}";

    /// <summary>Which worker delivers it: a hash of the table and the row's key (the whole row when every column is key), so one row's changes stay in order.</summary>
    public int Partition(int workers)
    {
        if (workers == 1) return 0;
        var hash = new HashCode();
        hash.Add(Row.Relation.QualifiedName, StringComparer.Ordinal);
        if (Row.Values is { } values)
            for (var i = 0; i < values.Length; i++)
            {
                if (!Row.Relation.Columns[i].IsKey) continue;
                hash.Add(values[i].Kind);
                if (values[i].Text is { } text) hash.AddBytes(text);
            }
        return (int)((uint)hash.ToHashCode() % (uint)workers);
    }
}
