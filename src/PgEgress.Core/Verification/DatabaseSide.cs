using Npgsql;
using PgEgress.Core.Domain;

namespace PgEgress.Core.Verification;

/// <summary>
/// The table at C, read on a connection that imported the consistent point's snapshot: per bucket count and hash sum
/// (one GROUP BY scan per level), and the rows of chosen buckets in key-hash order. Values are rendered by the types'
/// output functions in a session of the same connection string as ingest and reloads, so they are the files' text.
/// </summary>
public sealed class DatabaseSide(NpgsqlConnection snapshot, TableName table, TableShape shape)
{
    private string Relation => $"{Replication.Sql.Ident(table.Schema)}.{Replication.Sql.Ident(table.Name)}";

    private string KeySql => $"md5({RowEncoding.Sql(shape.Key.Select(i => shape.Columns[i]))})";

    /// <summary>Reads the table's columns and key from the catalog.</summary>
    public static async Task<TableShape?> ShapeAsync(NpgsqlConnection conn, TableName table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                   c.relreplident <> 'f' AND CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
                       THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey))
                       ELSE EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND a.attnum = ANY (i.indkey)) END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, conn);
        cmd.Parameters.Add(new() { Value = table.Schema });
        cmd.Parameters.Add(new() { Value = table.Name });
        var (names, types, nullable, key) = (new List<string>(), new List<string>(), new List<bool>(), new List<int>());
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
            {
                if (r.GetBoolean(3)) key.Add(names.Count);
                names.Add(r.GetString(0));
                types.Add(r.GetString(1));
                nullable.Add(r.GetBoolean(2));
            }
        if (names.Count == 0) return null;
        var hasKey = key.Count > 0;
        return new TableShape(names, types, nullable, hasKey ? key : [.. Enumerable.Range(0, names.Count)], hasKey);
    }

    /// <summary>Buckets of <paramref name="digits"/> hex digits, within <paramref name="within"/> (every row when null).</summary>
    public async Task<Dictionary<string, BucketStats>> BucketsAsync(int digits, PrefixSet? within, CancellationToken ct)
    {
        var (filter, parameters) = within?.Sql("k", 1) ?? ("true", []);
        await using var cmd = new NpgsqlCommand($"""
            SELECT substr(k, 1, {digits}), count(*), sum(h) FROM (SELECT {KeySql} AS k, {RowEncoding.RowHashSql(shape.Columns)} AS h FROM {Relation} t) s
            WHERE {filter} GROUP BY 1
            """, snapshot) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new() { Value = p });
        var buckets = new Dictionary<string, BucketStats>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) buckets[r.GetString(0)] = new BucketStats(r.GetInt64(1), r.GetDecimal(2));
        return buckets;
    }

    /// <summary>The rows of the buckets in <paramref name="leaves"/>, in key-hash order; equal rows of a keyless table come as one with their count.</summary>
    public async IAsyncEnumerable<FileRow> RowsAsync(PrefixSet leaves, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var (filter, parameters) = leaves.Sql("k", 1);
        var values = string.Join(", ", shape.Columns.Select(c => $"CASE WHEN t.{Replication.Sql.Ident(c)} IS NOT NULL THEN concat(t.{Replication.Sql.Ident(c)}) END"));
        await using var cmd = new NpgsqlCommand($"""
            SELECT * FROM (SELECT {KeySql} AS k, {RowEncoding.RowHashSql(shape.Columns)} AS h, {values} FROM {Relation} t) s
            WHERE {filter} ORDER BY k
            """, snapshot) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new() { Value = p });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        FileRow? pending = null;
        while (await r.ReadAsync(ct))
        {
            var row = new string?[shape.Columns.Count];
            for (var i = 0; i < row.Length; i++) row[i] = r.IsDBNull(i + 2) ? null : r.GetString(i + 2);
            var next = new FileRow(r.GetString(0), r.GetInt64(1), 1, row);
            if (pending is not null && pending.KeyHash == next.KeyHash && !shape.HasKey)
            {
                pending = pending with { Count = pending.Count + 1 };
                continue;
            }
            if (pending is not null) yield return pending;
            pending = next;
        }
        if (pending is not null) yield return pending;
    }
}
