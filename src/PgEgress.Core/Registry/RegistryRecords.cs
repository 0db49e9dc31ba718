namespace PgEgress.Core.Registry;

public sealed record SegmentRecord(string Slot, ulong StartLsn, ulong EndLsn, string Path, int Transactions, long Changes, long Bytes, string Sha256);

public sealed record CursorRecord(string Consumer, ulong Lsn, DateTime? LastCut, DateTime UpdatedAt);

public sealed record FileRecord(string Table, string Batch, string Path, string FileType, ulong StartLsn, ulong EndLsn,
    long Rows, long Bytes, string Sha256, bool HasDdl, int SchemaVersion);

public sealed record TableStateRecord(string Table, string Mode, int SchemaVersion, string SchemaFingerprint,
    long Files, long Rows, long Bytes, string? LastBatch, ulong? LastEndLsn, DateTime UpdatedAt);
