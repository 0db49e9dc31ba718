using PgEgress.Core.Domain;

namespace PgEgress.Core.Registry;

public sealed record SegmentRecord(string Slot, ulong StartLsn, ulong EndLsn, string Path, int Transactions, long Changes, long Bytes, string Sha256);

public sealed record CursorRecord(string Consumer, ulong Lsn, DateTime? LastCut, DateTime UpdatedAt);

public sealed record FileRecord(TableName Table, string Batch, string Path, string FileType, ulong StartLsn, ulong EndLsn,
    long Rows, long Bytes, string Sha256, bool HasDdl, int SchemaVersion);

public sealed record TableStateRecord(TableName Table, string Mode, int SchemaVersion, string SchemaFingerprint,
    long Files, long Rows, long Bytes, string? LastBatch, ulong? LastEndLsn, DateTime UpdatedAt);

/// <summary>A table the flush of <paramref name="Slot"/> could not write: its changes after <paramref name="RetryFrom"/> are in no registered file yet.</summary>
public sealed record FlushFailureRecord(string Slot, TableName Table, ulong RetryFrom, string Error, DateTime FirstFailedAt, DateTime LastFailedAt, int Attempts);
