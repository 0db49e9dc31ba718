using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Registry;
using PgEgress.Core.Storage;
using PgEgress.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Tests.Verification;

/// <summary>
/// The loader simulator itself, on hand-made files and registry rows: it must rebuild exactly what the contract says a
/// loader rebuilds (newest reload, then the later streaming files; schema changes between files), and it must notice
/// when files do not rebuild the table.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class OutputVerifierTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-verifier-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static readonly Col[] Simple = [new("id", "integer", Key: true), new("v", "text"), new("body", "text")];

    [Fact]
    public async Task Newest_reload_then_later_streaming_files_rebuild_the_table_and_older_files_are_ignored()
    {
        var (db, files) = await SetUpAsync("verify_reload", "t", """
            CREATE TABLE app.t (id integer PRIMARY KEY, v text, body text);
            INSERT INTO app.t VALUES (1, 'a2', 'b1'), (3, 'c2', 'b3 new'), (4, 'd again', NULL), (5, 'e', 'b5'), (6, '', NULL);
            """);
        await using var _ = db;

        // The newest reload is registered before an older one: "newest" is by end_lsn, not by id.
        var newest = await files.WriteAsync("20260101T001000Z_reload-2", "full_reload.csv.gz", "full_reload", 0x2000, 0x2000, 1, Simple,
            [R(0x2000, 1, "1", "a", "b1"), R(0x2000, 2, "2", "b", "b2")],
            [R(0x2000, 1, "3", "c", "b3"), R(0x2000, 2, "4", "x,\"quoted\"\nline", "b4")]);
        await files.WriteAsync("20260101T000000Z_reload-1", "full_reload.csv.gz", "full_reload", 0x1000, 0x1000, 1, Simple,
            [R(0x1000, 1, "1", "old", "old"), R(0x1000, 2, "99", "gone", null)]);
        // Before the newest reload: superseded by it.
        await files.WriteAsync("20260101T000500Z", "streaming.csv.gz", "streaming", 0x1500, 0x1500, 1, Simple,
            [Row(0x1500, 1, 'I', null, "50", "ignored", null)]);
        // After it: applied in end_lsn order (registered out of order on purpose).
        await files.WriteAsync("20260101T002000Z", "streaming.csv.gz", "streaming", 0x2400, 0x2500, 1, Simple,
            [Row(0x2400, 1, 'D', null, "4", null, null), Row(0x2400, 2, 'I', null, "4", "d again", null), Row(0x2500, 1, 'I', null, "6", "", null)]);
        await files.WriteAsync("20260101T001500Z", "streaming.csv.gz", "streaming", 0x2100, 0x2300, 1, Simple,
            [Row(0x2100, 1, 'I', null, "5", "e", "b5"), Row(0x2100, 2, 'U', "{body}", "1", "a2", null),
             Row(0x2200, 1, 'D', null, "2", null, null), Row(0x2300, 1, 'U', null, "3", "c2", "b3 new")]);

        var rebuild = await new OutputVerifier(db, files.Store).RebuildAsync("app", "t");

        Assert.True(rebuild.Differences.Count == 0, string.Join("\n", rebuild.Differences));
        Assert.Empty(rebuild.DuplicatePositions);   // the reload's (_lsn, _seq) pairs repeat across its ranges
        Assert.Empty(rebuild.OutOfOrder);
        Assert.True(rebuild.RegistryMismatches.Count == 0, string.Join("\n", rebuild.RegistryMismatches));
        Assert.Equal((3, 2, 1, 0L), (rebuild.Files, rebuild.ReloadFiles, rebuild.IgnoredFiles, rebuild.StaleRows));
        Assert.Equal(newest, rebuild.Reload);
        Assert.Equal(4L, rebuild.Ops['R']);
        Assert.Equal(11L, rebuild.Rows);
        Assert.Equal(1L, rebuild.UnchangedToastRows);
        Assert.Equal(1, rebuild.SchemaVersions);
    }

    [Fact]
    public async Task Streaming_files_across_add_drop_rename_and_type_changes_rebuild_the_table()
    {
        // The live table goes through the same statements as the files describe, so its attnum layout is the real one.
        var (db, files) = await SetUpAsync("verify_evolve", "e", """
            CREATE TABLE app.e (id integer PRIMARY KEY, a integer, b text, c text, n text);
            INSERT INTO app.e VALUES (98, 0, 'x', 'x', 'x');
            TRUNCATE app.e;
            INSERT INTO app.e VALUES (1, 1, 'b1', 'c1', '10'), (2, 2, 'b2', 'c2', '20'), (3, 3, 'b3', 'c3', NULL);
            ALTER TABLE app.e ADD COLUMN d text;
            UPDATE app.e SET d = 'd1' WHERE id = 1;
            INSERT INTO app.e VALUES (4, 4, 'b4', 'c4', '40', 'd4');
            ALTER TABLE app.e DROP COLUMN c;
            UPDATE app.e SET b = 'b2!' WHERE id = 2;
            DELETE FROM app.e WHERE id = 3;
            ALTER TABLE app.e RENAME COLUMN b TO label;
            INSERT INTO app.e VALUES (5, 5, 'L5', '50', NULL);
            UPDATE app.e SET label = 'L4' WHERE id = 4;
            ALTER TABLE app.e ALTER COLUMN a TYPE bigint;
            UPDATE app.e SET a = 10000000000 WHERE id = 1;
            INSERT INTO app.e VALUES (6, 9000000000, 'L6', '60', 'd6');
            ALTER TABLE app.e ALTER COLUMN n TYPE integer USING n::integer;
            INSERT INTO app.e VALUES (7, 7, 'L7', 70, NULL);
            UPDATE app.e SET n = 21 WHERE id = 2;
            ALTER TABLE app.e DROP COLUMN d, ALTER COLUMN n SET NOT NULL;
            ALTER TABLE app.e RENAME COLUMN label TO title;
            UPDATE app.e SET title = 'T5' WHERE id = 5;
            """);
        await using var _ = db;

        Col id = new("id", "integer", Key: true), a = new("a", "integer"), b = new("b", "text"), c = new("c", "text"), n = new("n", "text"),
            d = new("d", "text"), label = new("label", "text"), big = new("a", "bigint"), number = new("n", "integer", Nullable: false),
            title = new("title", "text");
        await files.WriteAsync("20260102T000000Z", "streaming.csv.gz", "streaming", 0x50, 0x100, 1, [id, a, b, c, n],
            [Row(0x50, 1, 'I', null, "98", "0", "x", "x", "x"), Row(0x60, 1, 'T', null, null, null, null, null, null),
             Row(0x100, 1, 'I', null, "1", "1", "b1", "c1", "10"), Row(0x100, 2, 'I', null, "2", "2", "b2", "c2", "20"),
             Row(0x100, 3, 'I', null, "3", "3", "b3", "c3", null)]);
        await files.WriteAsync("20260102T000000Z_v2", "streaming.csv.gz", "streaming", 0x200, 0x210, 2, [id, a, b, c, n, d],
            [Row(0x200, 1, 'U', null, "1", "1", "b1", "c1", "10", "d1"), Row(0x210, 1, 'I', null, "4", "4", "b4", "c4", "40", "d4")]);
        await files.WriteAsync("20260102T000500Z", "streaming.csv.gz", "streaming", 0x300, 0x310, 3, [id, a, b, n, d],
            [Row(0x300, 1, 'U', null, "2", "2", "b2!", "20", null), Row(0x310, 1, 'D', null, "3", null, null, null, null)]);
        await files.WriteAsync("20260102T000500Z_v4", "streaming.csv.gz", "streaming", 0x400, 0x410, 4, [id, a, label, n, d],
            [Row(0x400, 1, 'I', null, "5", "5", "L5", "50", null), Row(0x410, 1, 'U', null, "4", "4", "L4", "40", "d4")]);
        await files.WriteAsync("20260102T000500Z_v5", "streaming.csv.gz", "streaming", 0x500, 0x510, 5, [id, big, label, n, d],
            [Row(0x500, 1, 'U', null, "1", "10000000000", "b1", "10", "d1"), Row(0x510, 1, 'I', null, "6", "9000000000", "L6", "60", "d6")]);
        await files.WriteAsync("20260102T001000Z", "streaming.csv.gz", "streaming", 0x600, 0x610, 6, [id, big, label, number, d],
            [Row(0x600, 1, 'I', null, "7", "7", "L7", "70", null), Row(0x610, 1, 'U', null, "2", "2", "b2!", "21", null)]);
        // Two changes seen at once (a column dropped and another renamed before the next row): one new schema version.
        await files.WriteAsync("20260102T001000Z_v7", "streaming.csv.gz", "streaming", 0x700, 0x700, 7, [id, big, title, number],
            [Row(0x700, 1, 'U', null, "5", "5", "T5", "50")]);
        await files.WriteDdlAsync("20260102T000000Z", 0x100, 0x210, "ALTER TABLE app.e ADD COLUMN d text;");
        await files.WriteDdlAsync("20260102T000500Z", 0x300, 0x510, "ALTER TABLE app.e DROP COLUMN c; …");
        await files.WriteDdlAsync("20260102T001000Z", 0x600, 0x700, "ALTER TABLE app.e ALTER COLUMN n TYPE integer USING n::integer; …");

        var rebuild = await new OutputVerifier(db, files.Store).RebuildAsync("app", "e");

        Assert.True(rebuild.Differences.Count == 0, string.Join("\n", rebuild.Differences.Concat(rebuild.SchemaChanges)));
        Assert.Empty(rebuild.DuplicatePositions);
        Assert.Empty(rebuild.OutOfOrder);
        Assert.True(rebuild.RegistryMismatches.Count == 0, string.Join("\n", rebuild.RegistryMismatches));
        Assert.Equal((7, 0, 3, 7), (rebuild.Files, rebuild.ReloadFiles, rebuild.DdlFiles, rebuild.SchemaVersions));
        Assert.Null(rebuild.Reload);
        var changes = rebuild.SchemaChanges.Select(s => s[(s.IndexOf(": ", StringComparison.Ordinal) + 2)..]).ToList();
        Assert.Equal(
        [
            "ADD COLUMN \"d\" text",
            "DROP COLUMN \"c\"",
            "RENAME COLUMN \"b\" TO \"label\"",
            "ALTER COLUMN \"a\" TYPE bigint USING \"a\"::bigint",
            "ALTER COLUMN \"n\" TYPE integer USING \"n\"::integer",
            "DROP COLUMN \"d\"",
            "RENAME COLUMN \"label\" TO \"title\"",
        ], changes);
    }

    [Fact]
    public async Task A_file_that_does_not_rebuild_the_table_is_reported()
    {
        var (db, files) = await SetUpAsync("verify_wrong", "w", """
            CREATE TABLE app.w (id integer PRIMARY KEY, v text);
            INSERT INTO app.w VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
            CREATE TABLE app.cols (id integer PRIMARY KEY, v text, extra integer);
            INSERT INTO app.cols VALUES (1, 'a', NULL);
            """);
        await using var _ = db;
        Col[] two = [new("id", "integer", Key: true), new("v", "text")];
        // Row 3 is missing from the file, and the last update of row 2 too.
        await files.WriteAsync("20260103T000000Z", "streaming.csv.gz", "streaming", 0x100, 0x200, 1, two,
            [Row(0x100, 1, 'I', null, "1", "a"), Row(0x100, 2, 'I', null, "2", "b0"), Row(0x200, 1, 'I', null, "4", "d")]);
        // The table gained a column the files never show.
        await files.WriteAsync("cols", null, "20260103T000000Z", "streaming.csv.gz", "streaming", 0x100, 0x100, 1, two,
            [Row(0x100, 3, 'I', null, "1", "a")]);

        var verifier = new OutputVerifier(db, files.Store);
        var wrong = await verifier.RebuildAsync("app", "w");
        Assert.Contains("missing from files: (3,c)", wrong.Differences);
        Assert.Contains("missing from files: (2,b)", wrong.Differences);
        Assert.Contains("extra in files: (2,b0)", wrong.Differences);
        Assert.Equal(3, wrong.Differences.Count);

        var cols = await verifier.RebuildAsync("app", "cols");
        Assert.Equal(["column extra (integer) is not in the rebuilt table"], cols.Differences);
    }

    [Fact]
    public async Task Registry_disagreements_and_positions_in_two_files_are_reported()
    {
        var (db, files) = await SetUpAsync("verify_registry", "t", """
            CREATE TABLE app.t (id integer PRIMARY KEY, v text, body text);
            INSERT INTO app.t VALUES (1, 'a', NULL), (2, 'b', NULL);
            """);
        await using var _ = db;
        await files.WriteAsync("20260104T000000Z_reload-1", "full_reload.csv.gz", "full_reload", 0x1000, 0x1000, 1, Simple,
            [R(0x1000, 1, "1", "a", null)]);
        // Row 2 is in the file twice, and this file starts with a change the reload already holds.
        await files.WriteAsync("20260104T000500Z", "streaming.csv.gz", "streaming", 0x1000, 0x1100, 1, Simple,
            [Row(0x1000, 1, 'U', null, "1", "a", null), Row(0x1100, 1, 'I', null, "2", "b", null)]);
        await files.WriteAsync("t", 5, "20260104T001000Z", "streaming.csv.gz", "streaming", 0x1100, 0x1100, 1, Simple,
            [Row(0x1100, 1, 'I', null, "2", "b", null)]);

        var rebuild = await new OutputVerifier(db, files.Store).RebuildAsync("app", "t");
        Assert.Equal(1L, rebuild.StaleRows);
        Assert.Single(rebuild.DuplicatePositions);
        Assert.Single(rebuild.OutOfOrder);
        Assert.Contains(rebuild.RegistryMismatches, m => m.Contains("file_log says 5 row(s), the file has 1", StringComparison.Ordinal));
        Assert.Contains(rebuild.Differences, d => d.StartsWith("duckdb: ", StringComparison.Ordinal) && d.EndsWith("has 1 row(s), file_log says 5", StringComparison.Ordinal));
        Assert.Contains("extra in files: (2,b,)", rebuild.Differences);
        Assert.Contains(rebuild.Differences, d => d.StartsWith("note: 1 row(s) of the streaming files applied after", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_that_does_not_load_as_its_schema_yml_says_fails_the_rebuild()
    {
        var (db, files) = await SetUpAsync("verify_unloadable", "t", "CREATE TABLE app.t (id integer PRIMARY KEY, v text, body text);");
        await using var _ = db;
        var header = string.Join(",", Metadata.Concat(Simple.Select(c => c.Name)));
        // A header at the start of every gzip member: the concatenated file is not one CSV any more.
        await files.WriteAsync("20260106T000000Z_reload-1", "full_reload.csv.gz", "full_reload", 0x100, 0x100, 1, Simple,
            [R(0x100, 1, "1", "a", null)], [header, R(0x100, 1, "2", "b", null)]);
        var verifier = new OutputVerifier(db, files.Store);
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => verifier.RebuildAsync("app", "t"));
        Assert.Contains("full_reload.csv.gz does not load", error.Message, StringComparison.Ordinal);

        // A schema.yml whose columns are not the file's header.
        await files.WriteAsync("u", null, "20260106T000000Z", "streaming.csv.gz", "streaming", 0x100, 0x100, 1,
            [new("id", "integer", Key: true), new("v", "text")], [Row(0x100, 1, 'I', null, "1", "a")]);
        await files.Store.PutAsync("app.u/20260106T000000Z/schema.yml",
            SchemaYml("app.u", 1, 0x100, 0x100, [new("v", "text"), new("id", "integer", Key: true)]), default);
        await using (var cmd = db.CreateCommand("CREATE TABLE app.u (id integer PRIMARY KEY, v text)")) await cmd.ExecuteNonQueryAsync();
        await Assert.ThrowsAsync<InvalidDataException>(() => verifier.RebuildAsync("app", "u"));

        // A schema.yml whose documented key is spelled otherwise ("is_key" for "key").
        await files.Store.PutAsync("app.u/20260106T000000Z/schema.yml",
            SchemaYml("app.u", 1, 0x100, 0x100, [new("id", "integer", Key: true), new("v", "text")], keyName: "is_key"), default);
        var renamed = await Assert.ThrowsAsync<InvalidDataException>(() => verifier.RebuildAsync("app", "u"));
        Assert.Contains("no 'key' key", renamed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Schema_changes_are_matched_within_the_gaps_between_shared_columns()
    {
        (string, string)[] from = [("id", "integer"), ("a", "integer"), ("b", "text"), ("c", "text")];
        // a dropped, b renamed (same type), c shared, one new column at the end.
        Assert.Equal(["DROP COLUMN \"a\"", "RENAME COLUMN \"b\" TO \"b2\"", "ADD COLUMN \"z\" date"],
            OutputVerifier.Evolve(from, [("id", "integer"), ("b2", "text"), ("c", "text"), ("z", "date")]));
        // A type change keeps the name; a column of another type in the same place is a drop and an add.
        Assert.Equal(["DROP COLUMN \"c\"", "ALTER COLUMN \"a\" TYPE bigint USING \"a\"::bigint", "ADD COLUMN \"d\" integer"],
            OutputVerifier.Evolve(from, [("id", "integer"), ("a", "bigint"), ("b", "text"), ("d", "integer")]));
        Assert.Empty(OutputVerifier.Evolve(from, from));
    }

    [Fact]
    public async Task A_large_reload_with_streaming_changes_after_it_rebuilds_quickly()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("PGEGRESS_VERIFIER_RELOAD_ROWS"), out var n) ? n : 200_000;
        var (db, files) = await SetUpAsync("verify_big", "big", $"""
            CREATE TABLE app.big (id bigint PRIMARY KEY, v text, k integer);
            INSERT INTO app.big SELECT g, 'row ' || g, g % 1000 FROM generate_series(1, {count}) g;
            UPDATE app.big SET v = 'updated ' || id WHERE id % 100 = 0;
            DELETE FROM app.big WHERE id % 100 = 1;
            INSERT INTO app.big SELECT g, 'new ' || g, 0 FROM generate_series({count} + 1, {count} + 1000) g;
            """);
        await using var _ = db;
        Col[] columns = [new("id", "bigint", Key: true, Nullable: false), new("v", "text"), new("k", "integer")];
        const ulong at = 0x10000;
        var ranges = Enumerable.Range(0, 4).Select(r =>
        {
            var (from, to) = (count / 4 * r + 1, r == 3 ? count : count / 4 * (r + 1));
            return Enumerable.Range(from, to - from + 1).Select(i => R(at, i - from + 1, $"{i}", $"row {i}", $"{i % 1000}")).ToArray();
        }).ToArray();
        await files.WriteAsync("20260105T000000Z_reload-1", "full_reload.csv.gz", "full_reload", at, at, 1, columns, ranges);
        var changes = new List<string>();
        var seq = 0;
        for (var i = 100; i <= count; i += 100) changes.Add(Row(at + 1, ++seq, 'U', null, $"{i}", $"updated {i}", $"{i % 1000}"));
        for (var i = 1; i <= count; i += 100) changes.Add(Row(at + 2, ++seq, 'D', null, $"{i}", null, null));
        for (var i = count + 1; i <= count + 1000; i++) changes.Add(Row(at + 3, ++seq, 'I', null, $"{i}", $"new {i}", "0"));
        await files.WriteAsync("20260105T000500Z", "streaming.csv.gz", "streaming", at + 1, at + 3, 1, columns, [.. changes]);

        var clock = Stopwatch.StartNew();
        var rebuild = await new OutputVerifier(db, files.Store).RebuildAsync("app", "big");
        clock.Stop();
        output.WriteLine($"{count} reload rows and {changes.Count} streaming rows rebuilt in {clock.Elapsed}");
        Assert.True(rebuild.Differences.Count == 0, string.Join("\n", rebuild.Differences));
        Assert.Equal(count, rebuild.Ops['R']);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(Math.Max(30, count / 20_000)), $"{count} reload rows rebuilt in {clock.Elapsed}");
    }

    // ---- hand-made output ----

    private sealed record Col(string Name, string Type, bool Key = false, bool Nullable = true);

    private async Task<(NpgsqlDataSource Db, Files Files)> SetUpAsync(string name, string table, string liveSql)
    {
        var db = NpgsqlDataSource.Create(await pg.CreateUniqueDatabaseAsync(name));
        await RegistryMigrator.MigrateAsync(db, default);
        await using (var cmd = db.CreateCommand("CREATE SCHEMA app; " + liveSql)) await cmd.ExecuteNonQueryAsync();
        var store = new FileSystemObjectStore(Path.Combine(_root, name));
        await store.EnsureReadyAsync(default);
        return (db, new Files(db, store, "app", table));
    }

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();

    /// <summary>The output contract's metadata columns, as documented (not the product's constant).</summary>
    private static readonly string[] Metadata = ["_lsn", "_seq", "_op", "_commit_ts", "_xid", "_unchanged_toast"];

    /// <summary>A schema.yml as README.md documents it, written by hand rather than by the product's serializer.</summary>
    private static MemoryStream SchemaYml(string table, int version, ulong startLsn, ulong endLsn, IEnumerable<Col> columns, string keyName = "key")
    {
        var yaml = new System.Text.StringBuilder()
            .Append($"table: {table}\nschema_version: {version}\nreplica_identity: default\n")
            .Append($"start_lsn: {Lsn(startLsn)}\nend_lsn: {Lsn(endLsn)}\nmetadata_columns:\n");
        foreach (var m in Metadata) yaml.Append($"- {m}\n");
        yaml.Append("columns:\n");
        foreach (var c in columns)
            yaml.Append($"- name: {c.Name}\n  type: {c.Type}\n  nullable: {(c.Nullable ? "true" : "false")}\n  {keyName}: {(c.Key ? "true" : "false")}\n");
        return new MemoryStream(System.Text.Encoding.UTF8.GetBytes(yaml.ToString()));
    }

    /// <summary>One CSV line (no newline) of a change row: metadata, then the values; null is an empty unquoted field.</summary>
    private static string Row(ulong lsn, int seq, char op, string? unchangedToast, params string?[] values) =>
        string.Join(",", new[] { Lsn(lsn), seq.ToString(System.Globalization.CultureInfo.InvariantCulture), op.ToString(), "2026-01-01 00:00:00+00", "700", unchangedToast }
            .Concat(values).Select(Field));

    /// <summary>A reload row: no commit time, no transaction id.</summary>
    private static string R(ulong lsn, int seq, params string?[] values) =>
        string.Join(",", new[] { Lsn(lsn), seq.ToString(System.Globalization.CultureInfo.InvariantCulture), "R", null, null, null }.Concat(values).Select(Field));

    /// <summary>PostgreSQL's CSV: NULL is empty and unquoted, the empty string is "", quotes double.</summary>
    private static string Field(string? value) =>
        value is null ? "" : value.Length == 0 || value.IndexOfAny([',', '"', '\r', '\n']) >= 0 || value == "\\." ? $"\"{value.Replace("\"", "\"\"")}\"" : value;

    private sealed class Files(NpgsqlDataSource db, IObjectStore store, string schema, string defaultTable)
    {
        public IObjectStore Store => store;

        /// <summary>
        /// Writes a gzip CSV file (one gzip member per element of <paramref name="members"/>, the header in the first) and
        /// its folder's schema.yml, registers it in file_log, and returns its path.
        /// </summary>
        public Task<string> WriteAsync(string batch, string fileName, string fileType, ulong startLsn, ulong endLsn, int version,
            Col[] columns, params string[][] members) =>
            WriteAsync(defaultTable, null, batch, fileName, fileType, startLsn, endLsn, version, columns, members);

        /// <summary>As the other overload, for another table, or registering another row count than the file has.</summary>
        public async Task<string> WriteAsync(string table, long? registeredRows, string batch, string fileName, string fileType, ulong startLsn,
            ulong endLsn, int version, Col[] columns, params string[][] members)
        {
            var folder = $"{schema}.{table}/{batch}";
            var header = string.Join(",", Metadata.Concat(columns.Select(c => c.Name)));
            using var content = new MemoryStream();
            for (var m = 0; m < members.Length; m++)
            {
                using var member = new MemoryStream();
                using (var gzip = new GZipStream(member, CompressionLevel.Fastest, leaveOpen: true))
                using (var writer = new StreamWriter(gzip, new System.Text.UTF8Encoding(false), 1 << 16))
                {
                    if (m == 0) writer.Write(header + "\n");
                    foreach (var line in members[m]) { writer.Write(line); writer.Write('\n'); }
                }
                member.Position = 0;
                await member.CopyToAsync(content);
            }
            var bytes = content.ToArray();
            var path = $"{folder}/{fileName}";
            await store.PutAsync(path, new MemoryStream(bytes), default);

            await store.PutAsync($"{folder}/schema.yml", SchemaYml($"{schema}.{table}", version, startLsn, endLsn, columns), default);

            await RegisterAsync(table, batch, path, fileType, startLsn, endLsn, registeredRows ?? members.Sum(x => x.Length), bytes, version);
            return path;
        }

        public async Task WriteDdlAsync(string batch, ulong startLsn, ulong endLsn, string sql)
        {
            var path = $"{schema}.{defaultTable}/{batch}/ddl.sql";
            var bytes = System.Text.Encoding.UTF8.GetBytes(sql + "\n");
            await store.PutAsync(path, new MemoryStream(bytes), default);
            await RegisterAsync(defaultTable, batch, path, "ddl", startLsn, endLsn, 0, bytes, 0);
        }

        private async Task RegisterAsync(string table, string batch, string path, string fileType, ulong startLsn, ulong endLsn, long rows, byte[] bytes, int version)
        {
            await using var cmd = db.CreateCommand("""
                INSERT INTO cdc_registry.file_log (table_name, batch, path, file_type, start_lsn, end_lsn, rows, bytes, sha256, has_ddl, schema_version)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10)
                """);
            cmd.Parameters.Add(new() { Value = $"{schema}.{table}" });
            cmd.Parameters.Add(new() { Value = batch });
            cmd.Parameters.Add(new() { Value = path });
            cmd.Parameters.Add(new() { Value = fileType });
            cmd.Parameters.Add(new() { Value = new NpgsqlLogSequenceNumber(startLsn), NpgsqlDbType = NpgsqlDbType.PgLsn });
            cmd.Parameters.Add(new() { Value = new NpgsqlLogSequenceNumber(endLsn), NpgsqlDbType = NpgsqlDbType.PgLsn });
            cmd.Parameters.Add(new() { Value = rows });
            cmd.Parameters.Add(new() { Value = (long)bytes.Length });
            cmd.Parameters.Add(new() { Value = Convert.ToHexStringLower(SHA256.HashData(bytes)) });
            cmd.Parameters.Add(new() { Value = version });
            await cmd.ExecuteNonQueryAsync();
        }
    }
}
