using PgEgress.Core.Staging;

namespace PgEgress.Core.Output;

/// <summary>One CSV row of a table's output: I, U, D or T with the values to write.</summary>
/// <param name="KeyChange">The D or I is half of an update that changed the row's key.</param>
public readonly record struct ChangeRow(char Op, RelationSchema Relation, TupleValue[]? Values, bool KeyChange = false);

/// <summary>
/// Turns a staged change into the rows of the output contract: an update that changes the row's key becomes a D of
/// the old row followed by an I of the new one; an unchanged TOAST value is taken from the old row when the stream
/// sent one (REPLICA IDENTITY FULL), else left as unchanged; a TRUNCATE gives a T row per table.
/// </summary>
public static class ChangeRows
{
    public static IEnumerable<ChangeRow> From(StagedChange change)
    {
        switch (change.Kind)
        {
            case ChangeKind.Insert:
                yield return new ChangeRow('I', change.Relation!, change.NewRow);
                break;
            case ChangeKind.Delete:
                yield return new ChangeRow('D', change.Relation!, change.OldRow);
                break;
            case ChangeKind.Truncate:
                foreach (var relation in change.Truncated!)
                    yield return new ChangeRow('T', relation, null);
                break;
            case ChangeKind.Update:
                var relation0 = change.Relation!;
                var newRow = change.NewRow!;
                var old = change.OldRow;
                if (old is not null && !change.OldIsKeyOnly) newRow = FillUnchanged(newRow, old);
                if (old is not null && KeyChanged(relation0, old, newRow))
                {
                    yield return new ChangeRow('D', relation0, old, KeyChange: true);
                    yield return new ChangeRow('I', relation0, newRow, KeyChange: true);
                }
                else
                {
                    yield return new ChangeRow('U', relation0, newRow);
                }
                break;
        }
    }

    private static TupleValue[] FillUnchanged(TupleValue[] newRow, TupleValue[] oldRow)
    {
        if (!newRow.Any(v => v.Kind == ValueKind.UnchangedToast)) return newRow;
        var filled = (TupleValue[])newRow.Clone();
        for (var i = 0; i < filled.Length && i < oldRow.Length; i++)
            if (filled[i].Kind == ValueKind.UnchangedToast && oldRow[i].Kind != ValueKind.UnchangedToast) filled[i] = oldRow[i];
        return filled;
    }

    private static bool KeyChanged(RelationSchema relation, TupleValue[] oldRow, TupleValue[] newRow)
    {
        for (var i = 0; i < relation.Columns.Count; i++)
        {
            if (!relation.Columns[i].IsKey || newRow[i].Kind == ValueKind.UnchangedToast) continue;
            if (!oldRow[i].SameAs(newRow[i])) return true;
        }
        return false;
    }
}
