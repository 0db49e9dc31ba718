using PgEgress.Core.Domain;

namespace PgEgress.Core.Registry;

/// <summary>A reload or initial load, as cdc_registry.operations has it.</summary>
public sealed record OperationRecord(
    long Id,
    string Slot,
    string Kind,
    string RequestedVia,
    uint TableOid,
    TableName Table,
    string State,
    ulong? MarkerLsn,
    ulong? ConsistentLsn,
    int Attempts,
    long? Rows,
    long? Bytes,
    string? Path,
    string? Error,
    DateTime RequestedAt,
    DateTime? StartedAt,
    DateTime? FinishedAt,
    DateTime? ReleasedAt)
{
    public const string Requested = "requested";
    public const string Exporting = "exporting";
    public const string Completed = "completed";
    public const string Failed = "failed";

    public bool Finished => State is Completed or Failed;
}
