using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;
using PgEgress.Testing;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Reload;

namespace PgEgress.Tests.Golden;

/// <summary>
/// The output contract pinned byte for byte: schema.yml, the CSV header rows of streaming and full_reload files, and
/// ddl.sql from a real pipeline run (several column types, a key, a column added within the window, then a reload)
/// must equal the files checked in beside this class once LSNs and timestamps are masked. A renamed YAML key or
/// metadata column, a reordered field or a changed comment format fails here.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed partial class OutputGoldenTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-golden-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Schema_yml_csv_headers_and_ddl_sql_match_the_golden_files()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("golden");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA app;
            CREATE TYPE app.mood AS ENUM ('sad', 'happy');
            CREATE TABLE app.golden (
                id bigint PRIMARY KEY, code varchar(12) NOT NULL, amount numeric(12,2), flags bool[], at timestamptz,
                doc jsonb, raw bytea, m app.mood);
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: true);
        await ReloadRig.ExecAsync(db, """
            INSERT INTO app.golden VALUES (1, 'a', 1.50, '{t,f}', '2026-11-23 10:00+00', '{"k": 1}', '\x00ff', 'happy');
            UPDATE app.golden SET amount = 2 WHERE id = 1;
            """);
        await ReloadRig.ExecAsync(db, "ALTER TABLE app.golden ADD COLUMN note text DEFAULT 'n/a'");
        await ReloadRig.ExecAsync(db, "INSERT INTO app.golden (id, code, note) VALUES (2, 'b', 'after the DDL')");
        await pipeline.FlushAsync();
        await ReloadRig.ExecAsync(db, "SELECT cdc_registry.request_reload('app.golden')");
        await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 1, TimeSpan.FromMinutes(2));

        var files = new List<(string Path, string Type, int Version)>();
        await using (var cmd = db.CreateCommand("SELECT path, file_type, schema_version FROM cdc_registry.file_log WHERE table_name = 'app.golden' ORDER BY id"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) files.Add((r.GetString(0), r.GetString(1), r.GetInt32(2)));
        Assert.Equal(["ddl/2", "full_reload/2", "streaming/1", "streaming/2"], files.Select(f => $"{f.Type}/{f.Version}").Order(StringComparer.Ordinal));

        var mismatches = new List<string>();
        foreach (var (path, type, version) in files)
        {
            if (type == "ddl")
            {
                mismatches.AddRange(await CompareAsync("ddl.sql", await TextAsync(pipeline, path)));
                continue;
            }
            var folder = path[..path.LastIndexOf('/')];
            mismatches.AddRange(await CompareAsync($"{type}-v{version}.schema.yml", await TextAsync(pipeline, $"{folder}/schema.yml")));
            mismatches.AddRange(await CompareAsync($"{type}-v{version}.header.csv", await HeaderAsync(pipeline, path)));
        }
        Assert.True(mismatches.Count == 0, string.Join("\n\n", mismatches));
    }

    /// <summary>Masks what legitimately varies from run to run: LSNs and timestamps (none of these files carries an xid).</summary>
    private static string Normalise(string text) => Timestamp().Replace(Lsn().Replace(text, "{lsn}"), "{timestamp}");

    [GeneratedRegex(@"\b[0-9A-F]{1,8}/[0-9A-F]{1,8}\b")]
    private static partial Regex Lsn();

    [GeneratedRegex(@"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?|Z)?")]
    private static partial Regex Timestamp();

    private static async Task<List<string>> CompareAsync(string name, string actual)
    {
        var golden = Path.Combine(RepositoryRoot.Path, "tests", "PgEgress.Tests", "Golden", name);
        var normalised = Normalise(actual);
        var expected = File.Exists(golden) ? await File.ReadAllTextAsync(golden) : null;
        if (expected == normalised) return [];
        // Where the new output goes, to diff against the golden file (and, for an intended change, to replace it).
        var written = Path.Combine(Path.GetTempPath(), "pgegress-golden-actual", name);
        Directory.CreateDirectory(Path.GetDirectoryName(written)!);
        await File.WriteAllTextAsync(written, normalised);
        return [$"{name}: {(expected is null ? "no golden file" : "differs from the golden file")}; this run's output is in {written}:\n{normalised}"];
    }

    private static async Task<string> TextAsync(InProcessPipeline pipeline, string path)
    {
        await using var stream = (await pipeline.Store.OpenReadAsync(path, default))!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    /// <summary>The first line of a gzip CSV file, with its line end.</summary>
    private static async Task<string> HeaderAsync(InProcessPipeline pipeline, string path)
    {
        await using var stream = (await pipeline.Store.OpenReadAsync(path, default))!;
        using var reader = new StreamReader(new GZipStream(stream, CompressionMode.Decompress), Encoding.UTF8);
        return await reader.ReadLineAsync() + "\n";
    }
}
