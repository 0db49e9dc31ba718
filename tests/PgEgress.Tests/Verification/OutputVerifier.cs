using System.IO.Compression;
using System.Text;
using Npgsql;
using PgEgress.Core.Output;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Verification;

/// <summary>
/// Plays the downstream loader: loads every registered file of a table with COPY … (FORMAT csv, HEADER) into a
/// scratch table typed from its schema.yml, applies the rows in (_lsn, _seq) order to an empty copy of the table,
/// and compares the result with the live table.
/// </summary>
public sealed class OutputVerifier(NpgsqlDataSource db, IObjectStore store)
{
    /// <param name="Ops">Rows per _op across the table's files.</param>
    /// <param name="UnchangedToastRows">Rows whose _unchanged_toast names at least one column.</param>
    public sealed record Rebuild(string Table, int Files, long Rows, List<string> Differences, List<string> DuplicatePositions,
        Dictionary<char, long> Ops, long UnchangedToastRows);

    public async Task<Rebuild> RebuildAsync(string schema, string table)
    {
        var qualified = $"{schema}.{table}";
        var id = Math.Abs(qualified.GetHashCode()).ToString();
        var load = $"verify.\"load_{id}\"";
        var rebuilt = $"verify.\"rebuilt_{id}\"";
        var source = $"{Sql.Ident(schema)}.{Sql.Ident(table)}";

        var files = new List<string>();
        await using (var cmd = db.CreateCommand("SELECT path FROM cdc_registry.file_log WHERE table_name = $1 AND file_type = 'streaming' ORDER BY end_lsn, path"))
        {
            cmd.Parameters.Add(new() { Value = qualified });
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync()) files.Add(r.GetString(0));
        }

        await using var conn = await db.OpenConnectionAsync();
        await Exec(conn, $"CREATE SCHEMA IF NOT EXISTS verify; DROP TABLE IF EXISTS {load}, {rebuilt}; CREATE TABLE {rebuilt} (LIKE {source});");
        SchemaDocument? shape = null;
        foreach (var path in files)
        {
            var folder = path[..path.LastIndexOf('/')];
            var doc = SchemaDocument.Parse(await ReadTextAsync($"{folder}/{OutputLayout.SchemaFile}"));
            if (shape is null)
            {
                shape = doc;
                var columns = string.Join(", ", doc.Columns.Select(c => $"{Sql.Ident(c.Name)} {c.Type}"));
                await Exec(conn, $"""
                    CREATE TABLE {load} (_lsn pg_lsn, _seq int, _op char(1), _commit_ts timestamptz, _xid bigint, _unchanged_toast text[],
                                         {columns}, _file text, _row bigserial)
                    """);
            }
            var list = string.Join(", ", doc.MetadataColumns.Concat(doc.Columns.Select(c => c.Name)).Select(Sql.Ident));
            await using (var file = await store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path))
            using (var csv = new StreamReader(new GZipStream(file, CompressionMode.Decompress), Encoding.UTF8))
            await using (var copy = await conn.BeginTextImportAsync($"COPY {load} ({list}) FROM STDIN (FORMAT csv, HEADER)"))
            {
                var buffer = new char[1 << 16];
                int read;
                while ((read = await csv.ReadAsync(buffer)) > 0) await copy.WriteAsync(buffer, 0, read);
            }
            await using var tag = new NpgsqlCommand($"UPDATE {load} SET _file = $1 WHERE _file IS NULL", conn) { Parameters = { new() { Value = path } } };
            await tag.ExecuteNonQueryAsync();
        }
        if (shape is null) return new Rebuild(qualified, 0, 0, await DifferencesAsync(conn, source, rebuilt), [], [], 0);

        var names = shape.Columns.Select(c => Sql.Ident(c.Name)).ToList();
        var keys = shape.Columns.Where(c => c.Key).Select(c => Sql.Ident(c.Name)).ToList();
        string Match(string alias) => string.Join(" AND ", keys.Select(k => $"{alias}.{k} IS NOT DISTINCT FROM s.{k}"));
        var set = string.Join(", ", shape.Columns.Select(c =>
            $"{Sql.Ident(c.Name)} = CASE WHEN {Literal(c.Name)} = ANY (coalesce(s._unchanged_toast, '{{}}')) THEN r.{Sql.Ident(c.Name)} ELSE s.{Sql.Ident(c.Name)} END"));
        await Exec(conn, $"""
            DO $apply$
            DECLARE s record;
            BEGIN
              FOR s IN SELECT * FROM {load} ORDER BY _lsn, _seq LOOP
                IF s._op = 'I' THEN
                  INSERT INTO {rebuilt} ({string.Join(", ", names)}) VALUES ({string.Join(", ", names.Select(n => "s." + n))});
                ELSIF s._op = 'U' THEN
                  UPDATE {rebuilt} r SET {set} WHERE {Match("r")};
                ELSIF s._op = 'D' THEN
                  DELETE FROM {rebuilt} r WHERE r.ctid = (SELECT r2.ctid FROM {rebuilt} r2 WHERE {Match("r2")} LIMIT 1);
                ELSIF s._op = 'T' THEN
                  DELETE FROM {rebuilt};
                ELSE
                  RAISE EXCEPTION 'unknown _op %', s._op;
                END IF;
              END LOOP;
            END
            $apply$;
            """);

        var rows = (long)(await Scalar(conn, $"SELECT count(*) FROM {load}"))!;
        var duplicates = new List<string>();
        await using (var dup = new NpgsqlCommand($"SELECT _lsn::text || '/' || _seq || ' in ' || string_agg(_file, ', ') FROM {load} GROUP BY _lsn, _seq HAVING count(*) > 1 LIMIT 10", conn))
        await using (var r = await dup.ExecuteReaderAsync())
            while (await r.ReadAsync()) duplicates.Add(r.GetString(0));
        var ops = new Dictionary<char, long>();
        await using (var count = new NpgsqlCommand($"SELECT _op, count(*) FROM {load} GROUP BY _op", conn))
        await using (var r = await count.ExecuteReaderAsync())
            while (await r.ReadAsync()) ops[r.GetChar(0)] = r.GetInt64(1);
        var toast = (long)(await Scalar(conn, $"SELECT count(*) FROM {load} WHERE cardinality(_unchanged_toast) > 0"))!;
        return new Rebuild(qualified, files.Count, rows, await DifferencesAsync(conn, source, rebuilt), duplicates, ops, toast);
    }

    private static async Task<List<string>> DifferencesAsync(NpgsqlConnection conn, string source, string rebuilt)
    {
        var list = new List<string>();
        // Whole-row aliases that no table column can shadow.
        await using var cmd = new NpgsqlCommand($"""
            (SELECT 'missing from files: ' || x.row_text FROM (SELECT src_row_::text AS row_text FROM {source} src_row_ EXCEPT ALL SELECT reb_row_::text FROM {rebuilt} reb_row_) x LIMIT 10)
            UNION ALL
            (SELECT 'extra in files: ' || y.row_text FROM (SELECT reb_row_::text AS row_text FROM {rebuilt} reb_row_ EXCEPT ALL SELECT src_row_::text FROM {source} src_row_) y LIMIT 10)
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }

    private async Task<string> ReadTextAsync(string path)
    {
        await using var s = await store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    private static string Literal(string s) => "'" + s.Replace("'", "''") + "'";

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<object?> Scalar(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return await cmd.ExecuteScalarAsync();
    }
}
