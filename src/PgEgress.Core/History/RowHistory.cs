using Npgsql;
using PgEgress.Core.Domain;
using PgEgress.Core.Output;
using PgEgress.Core.Storage;

namespace PgEgress.Core.History;

/// <summary>
/// Every registered change of one row: the table's data files (full reloads, streaming files, repairs) in the order a
/// loader applies them (end LSN, repairs after the streaming files they follow, path), each read and filtered on the
/// key columns its own schema.yml names. It reads the table's whole registered history, so it is a diagnostic, not a
/// query to run in a loop; at most <see cref="MaxChanges"/> changes are listed.
/// </summary>
public sealed class RowHistory(NpgsqlDataSource source, IObjectStore store)
{
    public const int MaxChanges = 1000;

    public sealed record Change(string File, string FileType, string Lsn, long Seq, string Op, string? CommitTs, string? Xid,
        IReadOnlyList<string> UnchangedToast, IReadOnlyDictionary<string, string?> Record);

    public sealed record Result(string Table, IReadOnlyDictionary<string, string> Key, int FilesScanned, bool Truncated, IReadOnlyList<Change> Changes);

    /// <summary>The history, or the problem with the key (a column that is not the table's key, a missing key column).</summary>
    public async Task<(Result? History, string? Problem)> ReadAsync(TableName table, RowKey key, CancellationToken ct)
    {
        var changes = new List<Change>();
        var files = 0;
        var truncated = false;
        foreach (var (path, type) in await FilesAsync(table, ct))
        {
            files++;
            var schema = await OutputFileReader.ReadSchemaAsync(store, path, ct);
            var keyColumns = schema.Columns.Where(c => c.Key).Select(c => c.Name).ToList();
            if (Match(key, keyColumns, out var problem) is not { } wanted) return (null, $"{problem} (in {path})");
            using var reader = await OutputFileReader.OpenAsync(store, path, ct);
            var header = reader.Header;
            var at = wanted.ToDictionary(w => w.Key, w => Array.IndexOf(header, w.Key));
            if (at.Values.Any(i => i < 0)) throw new InvalidDataException($"{path} lacks a key column its schema.yml names");
            int Column(string name) => Array.IndexOf(header, name);
            var (lsn, seq, op, commit, xid, toast) = (Column("_lsn"), Column("_seq"), Column("_op"), Column("_commit_ts"), Column("_xid"), Column("_unchanged_toast"));
            while (reader.ReadRow() is { } row)
            {
                if (!wanted.All(w => row[at[w.Key]] == w.Value)) continue;
                if (changes.Count == MaxChanges)
                {
                    truncated = true;
                    break;
                }
                var record = new Dictionary<string, string?>(StringComparer.Ordinal);
                for (var i = 0; i < header.Length; i++)
                    if (header[i] is { } name && !name.StartsWith('_')) record[name] = row[i];
                changes.Add(new Change(path, type, row[lsn]!, long.Parse(row[seq]!, System.Globalization.CultureInfo.InvariantCulture), row[op]!,
                    row[commit], row[xid], toast >= 0 ? PgText.ParseTextArray(row[toast]) : [], record));
            }
            if (truncated) break;
        }
        var shown = key.IsSingleValue ? new Dictionary<string, string> { ["key"] = key.Values[""] } : key.Values;
        return (new Result(table.ToString(), shown, files, truncated, changes), null);
    }

    /// <summary>The key's values by column for this file's key columns; null with the problem when they do not fit.</summary>
    private static Dictionary<string, string>? Match(RowKey key, List<string> keyColumns, out string? problem)
    {
        problem = null;
        if (key.IsSingleValue)
        {
            if (keyColumns.Count == 1) return new() { [keyColumns[0]] = key.Values[""] };
            problem = $"the table's key has {keyColumns.Count} columns ({string.Join(", ", keyColumns)}): give key.{{column}}=… for each";
            return null;
        }
        var unknown = key.Values.Keys.Where(c => !keyColumns.Contains(c)).ToList();
        var missing = keyColumns.Where(c => !key.Values.ContainsKey(c)).ToList();
        if (unknown.Count == 0 && missing.Count == 0) return new(key.Values);
        problem = $"the table's key is ({string.Join(", ", keyColumns)})"
                  + (unknown.Count > 0 ? $"; not key columns: {string.Join(", ", unknown)}" : "")
                  + (missing.Count > 0 ? $"; missing: {string.Join(", ", missing)}" : "");
        return null;
    }

    private async Task<List<(string Path, string Type)>> FilesAsync(TableName table, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT path, file_type FROM cdc_registry.file_log
            WHERE table_name = $1 AND file_type IN ('full_reload', 'streaming', 'repair')
            ORDER BY end_lsn, file_type = 'repair', path
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = table.ToString() });
        var files = new List<(string, string)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) files.Add((r.GetString(0), r.GetString(1)));
        return files;
    }
}
