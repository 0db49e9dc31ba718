using PgEgress.Core.Staging;

namespace PgEgress.Core.Reload;

/// <summary>
/// One table's export in progress: its shape at the snapshot, its units in CTID order, where they spool, and the
/// counters the units add to from whichever worker runs them.
/// </summary>
internal sealed class TableExport(ExportTable table, RelationSchema schema, long sizeBytes, long estimatedRows, string spoolFolder)
{
    private long _rows;
    private long _bytes;
    private int _unitsDone;
    private readonly Lock _gate = new();

    public ExportTable Table => table;
    public RelationSchema Schema => schema;

    /// <summary>On-disk size (pg_relation_size) when planned: the largest tables go first.</summary>
    public long SizeBytes => sizeBytes;

    /// <summary>pg_class.reltuples when planned; 0 when the table was never analysed.</summary>
    public long EstimatedRows => estimatedRows;

    public string SpoolFolder => spoolFolder;
    public string HeaderPath => Path.Combine(spoolFolder, "header.csv.gz");
    public List<ExportUnit> Units { get; } = [];
    public long Rows => Interlocked.Read(ref _rows);

    /// <summary>The gzip members in file order: the header, then the units in CTID order.</summary>
    public IReadOnlyList<string> SpoolFiles => [HeaderPath, .. Units.Select(u => u.SpoolPath)];

    public void Add(long rows, long bytes)
    {
        Interlocked.Add(ref _rows, rows);
        Interlocked.Add(ref _bytes, bytes);
    }

    /// <summary>
    /// Marks a unit done and reports it; true for the table's last one. Under a lock, so the last unit's report is the
    /// last report of the table: nothing reaches <paramref name="progress"/> once the table is handed over.
    /// </summary>
    public bool UnitDone(IProgress<ExportProgress>? progress)
    {
        lock (_gate)
        {
            var last = Interlocked.Increment(ref _unitsDone) == Units.Count;
            progress?.Report(Progress());
            return last;
        }
    }

    public ExportProgress Progress() =>
        new(table.OperationId, Rows, Interlocked.Read(ref _bytes), estimatedRows, Volatile.Read(ref _unitsDone), Units.Count);
}

/// <summary>One COPY: a CTID range of a table (or the whole table), spooled as one complete gzip member.</summary>
internal sealed record ExportUnit(TableExport Table, string CopySql, string SpoolPath);
