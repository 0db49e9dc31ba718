using System.Globalization;
using System.IO.Compression;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Output;

/// <summary>
/// Writes one gzip CSV part of a table's batch to a local spool file: the header, then the metadata columns
/// (_lsn, _seq, _op, _commit_ts, _xid, _unchanged_toast) and the table's columns for every row.
/// </summary>
public sealed class CsvPartWriter : IDisposable
{
    public static readonly string[] MetadataColumns = ["_lsn", "_seq", "_op", "_commit_ts", "_xid", "_unchanged_toast"];

    private readonly FileStream _file;
    private readonly PgCsvWriter _csv;
    private bool _closed;

    public CsvPartWriter(string spoolPath, RelationSchema schema)
    {
        SpoolPath = spoolPath;
        Schema = schema;
        _file = PrivateFiles.Open(spoolPath, FileMode.Create, FileAccess.Write, 1 << 16);
        _csv = new PgCsvWriter(new GZipStream(_file, CompressionLevel.Fastest, leaveOpen: true));
        foreach (var name in MetadataColumns) _csv.WriteValue(name);
        foreach (var column in schema.Columns) _csv.WriteValue(column.Name);
        _csv.EndRow();
    }

    public string SpoolPath { get; }
    public RelationSchema Schema { get; }
    public long Rows { get; private set; }
    public long UncompressedBytes => _csv.BytesWritten;
    public ulong StartLsn { get; private set; }
    public ulong EndLsn { get; private set; }

    public void Write(in ChangeRow row, TransactionInfo txn, int seq)
    {
        if (Rows == 0) StartLsn = txn.EndLsn;
        EndLsn = txn.EndLsn;
        Rows++;

        _csv.WriteValue(PgText.Lsn(txn.EndLsn));
        _csv.WriteValue(seq.ToString(CultureInfo.InvariantCulture));
        _csv.WriteValue([(byte)row.Op]);
        _csv.WriteValue(PgText.TimestampTz(txn.CommitTimestamp));
        _csv.WriteValue(txn.Xid.ToString(CultureInfo.InvariantCulture));

        var values = row.Values;
        if (values is not null && values.Length != Schema.Columns.Count)
            throw new InvalidDataException($"{Schema.QualifiedName}: a row has {values.Length} values for {Schema.Columns.Count} columns");
        List<string>? unchanged = null;
        if (values is not null)
            for (var i = 0; i < values.Length; i++)
                if (values[i].Kind == ValueKind.UnchangedToast) (unchanged ??= []).Add(Schema.Columns[i].Name);
        if (unchanged is null) _csv.WriteNull();
        else _csv.WriteValue(PgText.TextArray(unchanged));

        for (var i = 0; i < Schema.Columns.Count; i++)
        {
            if (values is null || values[i].Kind != ValueKind.Text) _csv.WriteNull();
            else _csv.WriteValue(values[i].Text);
        }
        _csv.EndRow();
    }

    /// <summary>Finishes the gzip stream and makes the spool file durable.</summary>
    public void Close()
    {
        if (_closed) return;
        _csv.Dispose();
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        _closed = true;
    }

    public void Dispose()
    {
        if (_closed) return;
        _csv.Dispose();
        _file.Dispose();
        _closed = true;
    }
}
