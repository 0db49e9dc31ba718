using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks;

/// <summary>Which of a change's columns each part of a sink payload carries, the same in every format.</summary>
public static class ChangeColumns
{
    public static IEnumerable<int> Key(ChangeRow row) =>
        Enumerable.Range(0, row.Values!.Length).Where(i => row.Relation.Columns[i].IsKey);

    /// <summary>A delete carries the old key (or the whole old row under REPLICA IDENTITY FULL); others the new row, without unchanged TOAST.</summary>
    public static IEnumerable<int> Record(ChangeRow row) =>
        Enumerable.Range(0, row.Values!.Length).Where(i => row.Values[i].Kind != ValueKind.UnchangedToast
            && (row.Op != 'D' || row.Relation.Columns[i].IsKey || row.Values[i].Kind == ValueKind.Text));

    public static IEnumerable<int> UnchangedToast(ChangeRow row) =>
        Enumerable.Range(0, row.Values!.Length).Where(i => row.Values[i].Kind == ValueKind.UnchangedToast);
}
