using PgEgress.Core.Storage;

namespace PgEgress.Tests.Verification;

/// <summary>
/// Reads output files with DuckDB as an independent consumer: the row count must be the registry's, and where
/// PostgreSQL's reading of the file is given, every value must be the same text (or the same NULL).
/// One in-memory DuckDB for the whole check; each file is copied to a local scratch folder first.
/// </summary>
public sealed class DuckDbCheck(IObjectStore store) : IDisposable
{
    private readonly DuckDbCsv _duck = new();
    private readonly string _scratch = Directory.CreateTempSubdirectory("pgegress-duckdb-").FullName;

    /// <param name="columns">The file's header: metadata columns, then the table's.</param>
    /// <param name="postgres">The file's rows as PostgreSQL read them (COPY), in file order, each value as text; null to count only.</param>
    /// <returns>What DuckDB read differently; empty when it agrees.</returns>
    public async Task<List<string>> CheckAsync(string path, long registeredRows, IReadOnlyList<string> columns, List<string?[]>? postgres)
    {
        var local = Path.Combine(_scratch, "file.csv.gz");
        await using (var source = await store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path))
        await using (var target = File.Create(local))
            await source.CopyToAsync(target);

        var problems = new List<string>();
        if (postgres is null)
        {
            var count = _duck.Count(local, columns);
            if (count != registeredRows) problems.Add($"duckdb: {path} has {count} row(s), file_log says {registeredRows}");
            return problems;
        }
        var rows = _duck.Rows(local, columns);
        if (rows.Count != registeredRows) problems.Add($"duckdb: {path} has {rows.Count} row(s), file_log says {registeredRows}");
        for (var n = 0; n < Math.Min(rows.Count, postgres.Count) && problems.Count < 10; n++)
            for (var c = 0; c < columns.Count; c++)
                if (rows[n][c] != postgres[n][c])
                    problems.Add($"duckdb: {path} row {n + 1} {columns[c]}: DuckDB read {Show(rows[n][c])}, PostgreSQL {Show(postgres[n][c])}");
        return problems;
    }

    public void Dispose()
    {
        _duck.Dispose();
        Directory.Delete(_scratch, recursive: true);
    }

    private static string Show(string? value) => value is null ? "NULL" : value.Length > 80 ? $"'{value[..80]}…'" : $"'{value}'";
}
