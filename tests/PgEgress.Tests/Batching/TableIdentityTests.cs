using System.Text;
using Npgsql;
using PgEgress.Core.Health;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Reload;
using PgEgress.Tests.Verification;

namespace PgEgress.Tests.Batching;

/// <summary>
/// Table identity end to end: names that only quoting tells apart stay two tables, names whose folder would exceed a
/// path segment are written, and one table that cannot be written does not hold up the others.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class TableIdentityTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-identity-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Out => Path.Combine(_root, "out");

    [Fact]
    public async Task Tables_that_only_quoting_tells_apart_keep_their_own_rows_counts_schemas_and_ddl()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("identity_dots");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA "x.y"; CREATE SCHEMA x;
            CREATE TABLE "x.y".z (id int PRIMARY KEY, v text);
            CREATE TABLE x."y.z" (id int PRIMARY KEY, v text, extra int);
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Out);
        options.Source.Schemas = ["x.y", "x"];
        await using var pipeline = await InProcessPipeline.StartAsync(options);

        await ReloadRig.ExecAsync(db, """
            INSERT INTO "x.y".z SELECT g, 'first ' || g FROM generate_series(1, 3) g;
            INSERT INTO x."y.z" SELECT g, 'second ' || g, g FROM generate_series(1, 5) g;
            ALTER TABLE x."y.z" ADD COLUMN w int;
            INSERT INTO x."y.z" VALUES (6, 'after ddl', 6, 60);
            """);
        var flush = await pipeline.FlushAsync();
        Assert.Empty(flush.Failed);

        // The registry names each table as quote_ident does: two rows, each with its own counts.
        var states = new Dictionary<string, (long Rows, int Version)>();
        await using (var cmd = db.CreateCommand("SELECT table_name, rows, schema_version FROM cdc_registry.table_state ORDER BY 1"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) states[r.GetString(0)] = (r.GetInt64(1), r.GetInt32(2));
        var quoted = await ReloadRig.ScalarAsync<string[]>(db, """SELECT ARRAY[quote_ident('x.y') || '.' || quote_ident('z'), quote_ident('x') || '.' || quote_ident('y.z')]""");
        Assert.Equal(["\"x.y\".z", "x.\"y.z\""], quoted);
        Assert.Equal(3, states[quoted[0]].Rows);
        Assert.Equal(2, states.Count);

        // Each file lies in its own table's folder, and the DDL went to the altered table only.
        var files = new List<(string Table, string Type, string Path, long Rows)>();
        await using (var cmd = db.CreateCommand("SELECT table_name, file_type, path, rows FROM cdc_registry.file_log ORDER BY id"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) files.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3)));
        Assert.All(files.Where(f => f.Table == quoted[0]), f => Assert.StartsWith("x%2Ey.z/", f.Path));
        Assert.All(files.Where(f => f.Table == quoted[1]), f => Assert.StartsWith("x.y%2Ez/", f.Path));
        Assert.Equal(3, files.Where(f => f.Table == quoted[0] && f.Type == "streaming").Sum(f => f.Rows));
        Assert.Equal(6, files.Where(f => f.Table == quoted[1] && f.Type == "streaming").Sum(f => f.Rows));
        Assert.DoesNotContain(files, f => f.Table == quoted[0] && f.Type == "ddl");
        Assert.Single(files, f => f.Table == quoted[1] && f.Type == "ddl");

        await new OutputVerifier(db, pipeline.Store).AssertExactAsync(("x.y", "z"), ("x", "y.z"));
    }

    [Fact]
    public async Task A_table_whose_encoded_folder_exceeds_a_path_segment_reloads_and_flushes_beside_the_others()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("identity_long");
        await using var db = NpgsqlDataSource.Create(cs);
        var schema = new string('ß', 31); // 62 bytes of UTF-8, 186 once percent-encoded
        var table = new string('é', 31);
        Assert.True(Encoding.UTF8.GetByteCount(schema) <= 63 && Encoding.UTF8.GetByteCount(table) <= 63);
        await ReloadRig.ExecAsync(db, $"""
            CREATE SCHEMA "{schema}";
            CREATE TABLE "{schema}"."{table}" (id int PRIMARY KEY, v text);
            INSERT INTO "{schema}"."{table}" SELECT g, 'before ' || g FROM generate_series(1, 2100) g;
            CREATE SCHEMA app; CREATE TABLE app.plain (id int PRIMARY KEY, v text);
            INSERT INTO app.plain SELECT g, 'p' FROM generate_series(1, 10) g;
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Out);
        options.Source.Schemas = [schema, "app"];
        options.Reload.InitialLoad = true;
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: true);
        var ops = await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 2, TimeSpan.FromMinutes(2));
        Assert.All(ops, o => Assert.Equal("completed", o.State));

        await ReloadRig.ExecAsync(db, $"""
            UPDATE "{schema}"."{table}" SET v = 'after' WHERE id <= 100;
            INSERT INTO app.plain VALUES (11, 'q');
            """);
        var flush = await pipeline.FlushAsync();
        Assert.Empty(flush.Failed);

        var paths = new List<string>();
        await using (var cmd = db.CreateCommand("SELECT path FROM cdc_registry.file_log WHERE table_name = quote_ident($1) || '.' || quote_ident($2)"))
        {
            cmd.Parameters.Add(new() { Value = schema });
            cmd.Parameters.Add(new() { Value = table });
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync()) paths.Add(r.GetString(0));
        }
        Assert.Contains(paths, p => p.EndsWith("/full_reload.csv.gz", StringComparison.Ordinal));
        Assert.Contains(paths, p => p.EndsWith("/streaming.csv.gz", StringComparison.Ordinal));
        var folder = paths[0].Split('/')[0];
        Assert.True(Encoding.UTF8.GetByteCount(folder) <= 255, $"the folder {folder} is {folder.Length} bytes");
        Assert.StartsWith("%C3%9F%C3%9F", folder); // a readable prefix of the encoded schema
        Assert.Matches("~[0-9a-f]{16}$", folder);
        Assert.All(paths, p => Assert.True(File.Exists(Path.Combine(Out, p)), $"{p} is registered but not in the folder"));

        await new OutputVerifier(db, pipeline.Store).AssertExactAsync((schema, table), ("app", "plain"));
    }

    [Fact]
    public async Task A_table_that_cannot_be_written_is_reported_and_retried_while_the_others_flow()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("identity_isolated");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA app;
            CREATE TABLE app.good (id int PRIMARY KEY, v text);
            CREATE TABLE app.blocked (id int PRIMARY KEY, v text);
            """);
        await using var pipeline = await InProcessPipeline.StartAsync(InProcessPipeline.DefaultOptions(cs, Out));
        // A file where the table's folder must go: every write into that folder fails, as on a full or read-only mount.
        Directory.CreateDirectory(Out);
        var obstacle = Path.Combine(Out, "app.blocked");
        await File.WriteAllTextAsync(obstacle, "not a folder");

        await ReloadRig.ExecAsync(db, "INSERT INTO app.good SELECT g, 'a' FROM generate_series(1, 10) g; INSERT INTO app.blocked SELECT g, 'a' FROM generate_series(1, 10) g");
        var first = await pipeline.FlushAsync();
        Assert.Contains(first.Files, f => f.Table == "app.good" && f.Rows == 10);
        Assert.DoesNotContain(first.Files, f => f.Table == "app.blocked");
        Assert.Equal("app.blocked", Assert.Single(first.Failed).Table);

        var status = pipeline.Get<StatusReader>();
        var report = await status.ReadAsync(default);
        var failure = Assert.Single(report.FlushFailures);
        Assert.Equal("app.blocked", failure.Table);
        Assert.False(string.IsNullOrWhiteSpace(failure.Error));
        Assert.NotNull(report.Tables.Single(t => t.Table == "app.blocked").FlushError);
        var ready = await status.CheckReadyAsync(default);
        Assert.False(ready.Ready);
        Assert.Contains("app.blocked", ready.Checks.Single(c => c.Name == "flush").Detail);

        // Still blocked: the good table keeps flowing, the blocked one keeps its changes staged.
        await ReloadRig.ExecAsync(db, "UPDATE app.good SET v = 'b' WHERE id <= 5; UPDATE app.blocked SET v = 'b' WHERE id <= 5; DELETE FROM app.blocked WHERE id = 10");
        var second = await pipeline.FlushAsync();
        Assert.Contains(second.Files, f => f.Table == "app.good" && f.Rows == 5);
        Assert.Equal("app.blocked", Assert.Single(second.Failed).Table);
        Assert.True(await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.segments") > 0, "the blocked table's segments must be kept");

        // Unblocked: the next flush writes everything the table missed, once, and the failure clears.
        File.Delete(obstacle);
        var third = await pipeline.FlushAsync();
        Assert.Empty(third.Failed);
        Assert.Equal(10 + 5 + 1, third.Files.Where(f => f.Table == "app.blocked").Sum(f => f.Rows));
        report = await status.ReadAsync(default);
        Assert.Empty(report.FlushFailures);
        Assert.True((await status.CheckReadyAsync(default)).Ready);

        await new OutputVerifier(db, pipeline.Store).AssertExactAsync(("app", "good"), ("app", "blocked"));
        await pipeline.FlushAsync();
        Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.segments"));
    }
}
