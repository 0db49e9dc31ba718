using PgEgress.Core.Domain;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Reload;

/// <summary>A table to export for the reload operation <paramref name="OperationId"/>; the names are for messages, the oid decides.</summary>
public sealed record ExportTable(long OperationId, uint Oid, TableName Name);

/// <summary>A table's reload file, uploaded with its schema.yml and not yet registered.</summary>
/// <param name="Schema">The table as of the snapshot; the file's columns follow it.</param>
/// <param name="Path">The full_reload.csv.gz object.</param>
/// <param name="SchemaPath">The schema.yml beside it.</param>
/// <param name="Rows">Data rows (the header not counted).</param>
/// <param name="Bytes">Size of the gzip object.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the gzip object.</param>
/// <param name="Ranges">CTID ranges the table was exported as (1 when it was not split).</param>
/// <param name="ConsistentLsn">The slot's consistent point: the file is the table at this LSN, and its rows' _lsn.</param>
public sealed record ExportedTable(ExportTable Table, RelationSchema Schema, string Path, string SchemaPath, long Rows, long Bytes,
    string Sha256, int Ranges, ulong ConsistentLsn);

/// <summary>How far a table's export is.</summary>
/// <param name="Rows">Rows exported so far.</param>
/// <param name="Bytes">Uncompressed CSV bytes exported so far (header included).</param>
/// <param name="EstimatedRows">pg_class.reltuples at the start; 0 when the table was never analysed.</param>
public sealed record ExportProgress(long OperationId, long Rows, long Bytes, long EstimatedRows, int RangesDone, int Ranges);
