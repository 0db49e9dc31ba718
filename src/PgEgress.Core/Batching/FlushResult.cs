namespace PgEgress.Core.Batching;

public sealed record FlushedFile(string Table, string Path, long Rows, long Bytes, string StartLsn, string EndLsn);

/// <summary>A table whose files this flush could not write; the next flush retries it.</summary>
public sealed record FailedTable(string Table, string Error);

/// <summary>What a flush registered: the batch, the LSN range it covered and its files (empty when nothing was staged).</summary>
public sealed record FlushResult(string Batch, DateTime Cut, string FromLsn, string ToLsn, int Segments, IReadOnlyList<FlushedFile> Files, int SegmentsDeleted,
    IReadOnlyList<FailedTable> Failed);
