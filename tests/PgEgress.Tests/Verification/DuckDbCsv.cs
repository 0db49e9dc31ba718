using DuckDB.NET.Data;

namespace PgEgress.Tests.Verification;

/// <summary>
/// DuckDB, a reader that shares nothing with the product, reading output files (gzip CSV, local paths) with the
/// settings README.md documents for it. One in-memory database per instance.
/// </summary>
public sealed class DuckDbCsv : IDisposable
{
    private readonly DuckDBConnection _db = new("DataSource=:memory:");

    /// <summary>The longest row read (DuckDB's default is 2 MB; its read buffer is a multiple of this).</summary>
    private const int MaxLineBytes = 8 << 20;

    public DuckDbCsv()
    {
        _db.Open();
        // Cheap beside the tests' PostgreSQL and pipeline on a small shared machine.
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SET threads = 2; SET memory_limit = '1GB'";
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// The read_csv call for a file, every value as text: NULL is an empty unquoted field and <c>""</c> the empty string
    /// (allow_quoted_nulls=false keeps them apart), quotes double, and quoted fields may hold CR and LF. The dialect is
    /// fixed, not sniffed. With <paramref name="columns"/> (the header's names, in order) nothing is detected at all;
    /// without, DuckDB takes the names from the header.
    /// </summary>
    public static string ReadCsv(string path, IReadOnlyList<string>? columns)
    {
        var types = columns is null ? "all_varchar = true"
            : $"auto_detect = false, columns = {{{string.Join(", ", columns.Select(c => $"{Literal(c)}: 'VARCHAR'"))}}}";
        return $"read_csv({Literal(path)}, header = true, delim = ',', quote = '\"', escape = '\"', nullstr = '', " +
               $"allow_quoted_nulls = false, new_line = '\\n', strict_mode = true, compression = 'gzip', max_line_size = {MaxLineBytes}, {types})";
    }

    public long Count(string path, IReadOnlyList<string> columns) => Scalar($"SELECT count(*) FROM {ReadCsv(path, columns)}");

    /// <summary>A query's single integer.</summary>
    public long Scalar(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every row, in file order, each value as text or null.</summary>
    public List<string?[]> Rows(string path, IReadOnlyList<string>? columns)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = $"SELECT * FROM {ReadCsv(path, columns)}";
        using var reader = cmd.ExecuteReader();
        var rows = new List<string?[]>();
        while (reader.Read())
        {
            var row = new string?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
            rows.Add(row);
        }
        return rows;
    }

    public void Dispose() => _db.Dispose();

    private static string Literal(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";
}
