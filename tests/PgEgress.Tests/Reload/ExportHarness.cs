using System.IO.Compression;
using System.Text;
using Npgsql;
using Npgsql.Replication;
using PgEgress.Core.Output;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Reload;

/// <summary>What the reload tests share: a snapshot taken as a reload takes it, and a downstream loader for reload files.</summary>
internal static class ExportHarness
{
    /// <summary>
    /// A temporary pgoutput slot's exported snapshot, imported by <paramref name="count"/> workers of <paramref name="db"/>;
    /// the replication connection (and with it the slot) is gone when this returns.
    /// </summary>
    public static async Task<(SnapshotWorkers Workers, ulong ConsistentLsn)> SnapshotAsync(string connectionString, NpgsqlDataSource db, int count)
    {
        await using var replication = new LogicalReplicationConnection(connectionString);
        await replication.Open();
        var slot = await replication.CreatePgOutputReplicationSlot($"export_{Guid.NewGuid():N}", temporarySlot: true,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export);
        return (await SnapshotWorkers.OpenAsync(db, slot.SnapshotName!, count, default), (ulong)slot.ConsistentPoint);
    }

    /// <summary>
    /// Loads a reload file as a downstream loader does: into a new table typed from the schema.yml beside it, with
    /// COPY … (FORMAT csv, HEADER MATCH), so the header must name exactly the metadata and table columns in order.
    /// </summary>
    /// <returns>The loaded table's name.</returns>
    public static async Task<string> LoadAsync(NpgsqlDataSource db, IObjectStore store, ExportedTable exported)
    {
        var doc = SchemaDocument.Parse(Encoding.UTF8.GetString(await ReadAsync(store, exported.SchemaPath)));
        var table = "loaded_" + Guid.NewGuid().ToString("N")[..12];
        var columns = string.Join("", doc.Columns.Select(c => $", {Sql.Ident(c.Name)} {c.Type}"));
        await ExecAsync(db, $"CREATE TABLE {table} (_lsn pg_lsn, _seq bigint, _op char(1), _commit_ts timestamptz, _xid bigint, _unchanged_toast text[]{columns})");
        var list = string.Join(", ", doc.MetadataColumns.Concat(doc.Columns.Select(c => c.Name)).Select(Sql.Ident));
        await using var conn = await db.OpenConnectionAsync();
        await using var file = await store.OpenReadAsync(exported.Path, default) ?? throw new FileNotFoundException(exported.Path);
        using var csv = new StreamReader(new GZipStream(file, CompressionMode.Decompress), Encoding.UTF8);
        await using (var copy = await conn.BeginTextImportAsync($"COPY {table} ({list}) FROM STDIN (FORMAT csv, HEADER MATCH)"))
        {
            var buffer = new char[1 << 16];
            int read;
            while ((read = await csv.ReadAsync(buffer)) > 0) await copy.WriteAsync(buffer.AsMemory(0, read));
        }
        return table;
    }

    /// <summary>The rows of <paramref name="table"/> as row literals of <paramref name="columns"/>, sorted: comparable across tables.</summary>
    public static async Task<List<string>> RowsAsync(NpgsqlDataSource db, string table, IEnumerable<string> columns)
    {
        await using var cmd = db.CreateCommand($"SELECT ROW({string.Join(", ", columns.Select(Sql.Ident))})::text FROM {table} ORDER BY 1");
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await r.ReadAsync()) rows.Add(r.GetString(0));
        return rows;
    }

    public static async Task<byte[]> ReadAsync(IObjectStore store, string path)
    {
        await using var stream = await store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path);
        using var bytes = new MemoryStream();
        await stream.CopyToAsync(bytes);
        return bytes.ToArray();
    }

    public static async Task ExecAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
