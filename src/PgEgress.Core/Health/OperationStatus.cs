using PgEgress.Core.Output;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;

namespace PgEgress.Core.Health;

/// <summary>A reload or initial load as the API shows it: its registry row, and live export progress while this process runs it.</summary>
/// <param name="Created">On a reload request: true when this request created it, false when it was already under way.</param>
public sealed record OperationStatus(
    long Id,
    string Kind,
    string Table,
    string State,
    string RequestedVia,
    string? MarkerLsn,
    string? ConsistentLsn,
    int Attempts,
    long? Rows,
    long? Bytes,
    string? Path,
    string? Error,
    DateTime RequestedAt,
    DateTime? StartedAt,
    DateTime? FinishedAt,
    DateTime? ReleasedAt,
    ExportStatus? Progress,
    bool? Created = null)
{
    public static OperationStatus From(OperationRecord o, ExportStatus? progress, bool? created = null) => new(
        o.Id, o.Kind, o.Table.ToString(), o.State, o.RequestedVia, o.MarkerLsn is { } m ? PgText.Lsn(m) : null,
        o.ConsistentLsn is { } c ? PgText.Lsn(c) : null, o.Attempts, o.Rows, o.Bytes, o.Path, o.Error,
        o.RequestedAt, o.StartedAt, o.FinishedAt, o.ReleasedAt, progress, created);
}
