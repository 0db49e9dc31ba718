using Npgsql;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Reload;

namespace PgEgress.Tests.Verification;

/// <summary>
/// The DuckDB settings README.md documents read our files exactly: every value DuckDB returns equals PostgreSQL's own
/// text output of the source value (<c>col::text</c>), NULL apart from <c>""</c>, for a multi-member gzip reload and
/// for streaming files. And a key change of a row whose TOAST value did not change is a D then an I that names the
/// column in <c>_unchanged_toast</c>.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DuckDbCsvTests(PostgresFixture pg) : IDisposable
{
    private static readonly string[] Metadata = ["_lsn", "_seq", "_op", "_commit_ts", "_xid", "_unchanged_toast"];
    private static readonly string[] TrickyColumns = ["id", "t", "j", "arr", "b", "n", "ts"];

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-duckdb-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Values that break naive CSV readers, cycled over the rows.</summary>
    private const string Tricky = """
        (VALUES (1, ''), (2, NULL), (3, '\.'), (4, 'NULL'), (5, E'cr\r\nlf'), (6, E'lf\nonly'), (7, E'lone\rcr'), (8, 'say "hi"'),
                (9, 'a,b'), (10, 'ünïcødé ✓ 🎉'), (11, '"'), (12, '""'), (13, ' padded '), (14, ','), (15, E'\\N'), (0, 'plain'))
        """;

    private static string Insert(int from, int to) => $$"""
        INSERT INTO app.tricky
        SELECT g, s.v, jsonb_build_object('v', s.v), ARRAY[s.v, NULL, ''], convert_to(coalesce(s.v, ''), 'UTF8'), g / 7.0, '2026-11-23 14:12:05.5+01'::timestamptz + g * interval '1 min'
        FROM generate_series({{from}}, {{to}}) g JOIN {{Tricky}} AS s(k, v) ON s.k = g % 16
        """;

    [Fact]
    public async Task DuckDB_reads_every_value_as_PostgreSQL_wrote_it_in_a_multi_member_reload_and_in_streaming_files()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("duckdb_values");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, "CREATE SCHEMA app; CREATE TABLE app.tricky (id int PRIMARY KEY, t text, j jsonb, arr text[], b bytea, n numeric, ts timestamptz);");
        await ReloadRig.ExecAsync(db, Insert(1, 3000) + "; ANALYZE app.tricky");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Reload.InitialLoad = true;
        (options.Reload.SplitAboveBytes, options.Reload.RangeBytes) = (0, 8192);
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: true);
        await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 1, TimeSpan.FromMinutes(2));
        await ReloadRig.ExecAsync(db, Insert(3001, 3100));
        await pipeline.FlushAsync();

        var expected = await SourceTextAsync(db);
        var read = new Dictionary<string, string?[]>();
        var reloadRanges = 0;
        using var duck = new DuckDbCsv();
        foreach (var (path, type, rows) in await FilesAsync(db))
        {
            var local = await CopyLocalAsync(pipeline, path);
            var fileRows = duck.Rows(local, [.. Metadata, .. TrickyColumns]);
            Assert.Equal(rows, fileRows.Count);
            // The shorter form README.md shows, names from the header, reads the same.
            Assert.Equal(fileRows, duck.Rows(local, null));
            if (type == "full_reload") reloadRanges = fileRows.Count(r => r[1] == "1");
            foreach (var row in fileRows)
            {
                Assert.Equal(type == "full_reload" ? "R" : "I", row[2]);
                read.Add(row[6]!, row[6..]);
            }
        }
        Assert.True(reloadRanges > 1, $"the reload has {reloadRanges} CTID range(s): not a multi-member gzip");
        Assert.Equal(expected.Keys.Order(), read.Keys.Order());
        foreach (var (id, values) in expected)
            for (var c = 0; c < TrickyColumns.Length; c++)
                Assert.True(values[c] == read[id][c], $"id {id}, {TrickyColumns[c]}: PostgreSQL says {Show(values[c])}, DuckDB read {Show(read[id][c])}");
        Assert.Contains(expected.Values, v => v[1] == "");
        Assert.Contains(expected.Values, v => v[1] is null);
    }

    [Fact]
    public async Task DuckDB_with_its_default_allow_quoted_nulls_reads_the_empty_string_as_NULL()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("duckdb_quoted_nulls");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, "CREATE SCHEMA app; CREATE TABLE app.tricky (id int PRIMARY KEY, t text, j jsonb, arr text[], b bytea, n numeric, ts timestamptz);");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        await using var pipeline = await InProcessPipeline.StartAsync(options);
        await ReloadRig.ExecAsync(db, Insert(1, 32));
        await pipeline.FlushAsync();

        var (path, _, _) = Assert.Single(await FilesAsync(db));
        var local = await CopyLocalAsync(pipeline, path);
        using var duck = new DuckDbCsv();
        var documented = DuckDbCsv.ReadCsv(local, [.. Metadata, .. TrickyColumns]);
        var lax = documented.Replace("allow_quoted_nulls = false", "allow_quoted_nulls = true", StringComparison.Ordinal);
        Assert.NotEqual(documented, lax);
        Assert.Equal((2L, 2L), (duck.Scalar($"SELECT count(*) FROM {documented} WHERE t = ''"), duck.Scalar($"SELECT count(*) FROM {documented} WHERE t IS NULL")));
        Assert.Equal((0L, 4L), (duck.Scalar($"SELECT count(*) FROM {lax} WHERE t = ''"), duck.Scalar($"SELECT count(*) FROM {lax} WHERE t IS NULL")));
    }

    [Fact]
    public async Task A_key_change_of_a_row_with_unchanged_TOAST_is_a_D_then_an_I_naming_the_column_in_unchanged_toast()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("duckdb_toast_key");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA app;
            CREATE TABLE app.doc (id int PRIMARY KEY, title text, body text);
            ALTER TABLE app.doc ALTER COLUMN body SET STORAGE EXTERNAL;
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        await using var pipeline = await InProcessPipeline.StartAsync(options);
        await ReloadRig.ExecAsync(db, "INSERT INTO app.doc SELECT 1, 'first', string_agg(md5(g::text), '') FROM generate_series(1, 200) g");
        await ReloadRig.ExecAsync(db, "UPDATE app.doc SET id = 2, title = 'moved' WHERE id = 1");
        await pipeline.FlushAsync();

        var (path, _, rows) = Assert.Single(await FilesAsync(db, "app.doc"));
        using var duck = new DuckDbCsv();
        var file = duck.Rows(await CopyLocalAsync(pipeline, path), [.. Metadata, "id", "title", "body"]);
        Assert.Equal(3L, rows);
        Assert.Equal(["I", "D", "I"], file.Select(r => r[2]));
        var (insert, delete, moved) = (file[0], file[1], file[2]);
        Assert.Equal(delete[0], moved[0]);
        Assert.Equal(long.Parse(delete[1]!) + 1, long.Parse(moved[1]!));
        Assert.Equal(("1", "2", "moved"), (delete[6], moved[6], moved[7]));
        Assert.Equal("{body}", moved[5]);
        Assert.Null(moved[8]);
        // The loader's rule: the I takes body from the row its D removed (same _lsn, the preceding _seq).
        Assert.Equal(await ReloadRig.ScalarAsync<string>(db, "SELECT body FROM app.doc WHERE id = 2"), insert[8]);

        var rebuild = await new OutputVerifier(db, pipeline.Store).RebuildAsync("app", "doc");
        Assert.True(rebuild.Differences.Count == 0, string.Join("\n", rebuild.Differences));
    }

    private static string Show(string? value) => value is null ? "NULL" : $"'{value}'";

    private async Task<string> CopyLocalAsync(InProcessPipeline pipeline, string path)
    {
        var local = Path.Combine(_root, Guid.NewGuid().ToString("N") + ".csv.gz");
        await using var source = (await pipeline.Store.OpenReadAsync(path, default))!;
        await using var target = File.Create(local);
        await source.CopyToAsync(target);
        return local;
    }

    private static async Task<List<(string Path, string Type, long Rows)>> FilesAsync(NpgsqlDataSource db, string table = "app.tricky")
    {
        var files = new List<(string, string, long)>();
        await using var cmd = db.CreateCommand("SELECT path, file_type, rows FROM cdc_registry.file_log WHERE table_name = $1 AND file_type IN ('streaming', 'full_reload') ORDER BY id");
        cmd.Parameters.Add(new() { Value = table });
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) files.Add((r.GetString(0), r.GetString(1), r.GetInt64(2)));
        return files;
    }

    /// <summary>PostgreSQL's own text output of every source value, by id.</summary>
    private static async Task<Dictionary<string, string?[]>> SourceTextAsync(NpgsqlDataSource db)
    {
        var rows = new Dictionary<string, string?[]>();
        await using var cmd = db.CreateCommand($"SELECT {string.Join(", ", TrickyColumns.Select(c => c + "::text"))} FROM app.tricky");
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            var row = new string?[TrickyColumns.Length];
            for (var i = 0; i < row.Length; i++) row[i] = r.IsDBNull(i) ? null : r.GetString(i);
            rows.Add(row[0]!, row);
        }
        return rows;
    }
}
