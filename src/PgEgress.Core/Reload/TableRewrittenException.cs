namespace PgEgress.Core.Reload;

/// <summary>
/// Tables whose storage was replaced (ALTER COLUMN … TYPE, VACUUM FULL, CLUSTER, SET TABLESPACE, TRUNCATE) after the
/// export's snapshot and before the export locked them: the snapshot sees none of the new storage's rows, so their
/// export would be empty. They are exported again under a fresh snapshot.
/// </summary>
public sealed class TableRewrittenException(IReadOnlyList<ExportTable> tables)
    : Exception($"{string.Join(", ", tables.Select(t => t.Name.ToString()))} rewritten after the export's snapshot; to be exported again under a fresh snapshot");
