using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Domain;
using PgEgress.Core.Output;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Verification;

/// <summary>
/// A repair file: synthetic changes at the consistent point C (<c>_lsn</c> = C, <c>_seq</c> from 1) that turn what the
/// files rebuild into the table at C — <c>I</c> for a row missing from the files, <c>D</c> for a row only in them,
/// <c>U</c> (every column) for a row that differs. Written to {table}/{time}_repair-{id}/repair.csv.gz with its
/// schema.yml, then registered in file_log as a <c>repair</c> file with start_lsn = end_lsn = C.
/// </summary>
public sealed class RepairWriter(PgEgressOptions options, NpgsqlDataSource source, IObjectStore store, TimeProvider time)
{
    public const string FileName = "repair.csv.gz";

    private PgEgressOptions Options => options;
    private NpgsqlDataSource Source => source;
    private IObjectStore Store => store;
    private TimeProvider Time => time;

    public Draft Start(string folder, TableShape shape, ulong consistent) => new(this, Path.Combine(folder, FileName), shape, consistent);

    /// <summary>The repair rows being spooled while the comparison runs; registered only when it is kept.</summary>
    public sealed class Draft : IDisposable
    {
        private readonly RepairWriter _owner;
        private readonly string _path;
        private readonly TableShape _shape;
        private readonly ulong _consistent;
        private readonly string _commitTs;
        private readonly FileStream _file;
        private readonly PgCsvWriter _csv;
        private long _rows;
        private bool _closed;

        internal Draft(RepairWriter owner, string path, TableShape shape, ulong consistent)
        {
            (_owner, _path, _shape, _consistent) = (owner, path, shape, consistent);
            _commitTs = PgText.TimestampTz(owner.Time.GetUtcNow().UtcDateTime);
            _file = PrivateFiles.Open(path, FileMode.Create, FileAccess.ReadWrite, 1 << 16);
            _csv = new PgCsvWriter(new GZipStream(_file, CompressionLevel.Fastest, leaveOpen: true));
            foreach (var name in CsvPartWriter.MetadataColumns.Concat(shape.Columns)) _csv.WriteValue(name);
            _csv.EndRow();
        }

        public void Insert(string?[] values) => Write('I', values);

        public void Update(string?[] values) => Write('U', values);

        /// <summary>A D carries the key columns (every column of a table without a key), like a streamed one.</summary>
        public void Delete(string?[] values) => Write('D', [.. values.Select((v, i) => _shape.Key.Contains(i) ? v : null)]);

        private void Write(char op, string?[] values)
        {
            _csv.WriteValue(PgText.Lsn(_consistent));
            _csv.WriteValue((++_rows).ToString(CultureInfo.InvariantCulture));
            _csv.WriteValue(op.ToString());
            _csv.WriteValue(_commitTs);
            _csv.WriteNull();
            _csv.WriteNull();
            foreach (var v in values)
            {
                if (v is null) _csv.WriteNull();
                else _csv.WriteValue(v);
            }
            _csv.EndRow();
        }

        /// <summary>Uploads the file and its schema.yml and registers it; returns its path.</summary>
        public async Task<string> RegisterAsync(TableName table, long verificationId, int schemaVersion, CancellationToken ct)
        {
            _csv.Dispose();
            _closed = true;
            _file.Flush(flushToDisk: true);
            _file.Position = 0;
            var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(_file, ct));
            var bytes = _file.Length;
            _file.Position = 0;
            var batch = $"{OutputLayout.Batch(_owner.Time.GetUtcNow().UtcDateTime)}_repair-{verificationId}";
            var folder = $"{OutputLayout.TableFolder(table)}/{batch}";
            var schema = new SchemaDocument
            {
                Table = table.ToString(),
                SchemaVersion = schemaVersion,
                ReplicaIdentity = _shape.HasKey ? "default" : "full",
                StartLsn = PgText.Lsn(_consistent),
                EndLsn = PgText.Lsn(_consistent),
                MetadataColumns = [.. CsvPartWriter.MetadataColumns],
                Columns = [.. _shape.Columns.Select((c, i) => new SchemaDocument.SchemaColumn { Name = c, Type = _shape.Types[i], Nullable = _shape.Nullable[i], Key = _shape.HasKey && _shape.Key.Contains(i) })],
            };
            using (var yaml = new MemoryStream(Encoding.UTF8.GetBytes(schema.ToYaml())))
                await _owner.Store.PutAsync($"{folder}/{OutputLayout.SchemaFile}", yaml, ct);
            var path = $"{folder}/{FileName}";
            await _owner.Store.PutAsync(path, _file, ct);

            await using var conn = await _owner.Source.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            // Under the flush's lock, as a reload registers: no flush commits between the check and the insert.
            await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext($1))", conn, tx) { Parameters = { new() { Value = BatchFlusher.LockKey(_owner.Options.Source.Slot) } } })
                await take.ExecuteNonQueryAsync(ct);
            await using var insert = new NpgsqlCommand("""
                INSERT INTO cdc_registry.file_log (table_name, batch, path, file_type, start_lsn, end_lsn, rows, bytes, sha256, has_ddl, schema_version)
                VALUES ($1, $2, $3, 'repair', $4, $4, $5, $6, $7, false, $8) ON CONFLICT (path) DO NOTHING
                """, conn, tx)
            {
                Parameters =
                {
                    new() { Value = table.ToString() }, new() { Value = batch }, new() { Value = path },
                    new() { Value = new NpgsqlLogSequenceNumber(_consistent), NpgsqlDbType = NpgsqlDbType.PgLsn },
                    new() { Value = _rows }, new() { Value = bytes }, new() { Value = sha }, new() { Value = schemaVersion },
                },
            };
            await insert.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            return path;
        }

        public void Dispose()
        {
            if (!_closed) _csv.Dispose();
            _file.Dispose();
        }
    }
}
