using PgEgress.Core.Domain;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;
using PgEgress.Testing;
using PgEgress.Tests.Fixtures;
using static PgEgress.Tests.Reload.ExportHarness;

namespace PgEgress.Tests.Reload;

/// <summary>
/// Full-reload exports under an exported snapshot, checked the way a downstream loader sees them: each file loads with
/// COPY … (FORMAT csv, HEADER MATCH) into a table typed from its schema.yml and holds exactly the table at the snapshot.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class TableExporterTests(PostgresFixture pg) : IDisposable
{
    private const int SchemaVersion = 3;
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-reload-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string OutputFolder => Path.Combine(_root, "out");

    private PgEgressOptions Options(Action<ReloadOptions>? reload = null)
    {
        var options = new PgEgressOptions { Source = { Slot = "reload_test" }, WorkDirectory = Path.Combine(_root, "work") };
        reload?.Invoke(options.Reload);
        return options;
    }

    private string ReloadSpool(PgEgressOptions options) => Path.Combine(options.WorkDirectory, options.Source.Slot, "reload");

    private async Task<(string ConnectionString, NpgsqlDataSource Db)> NewDatabaseAsync(string name, string schema)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(name);
        var db = NpgsqlDataSource.Create(cs);
        await ExecAsync(db, schema);
        return (cs, db);
    }

    /// <summary>Exports the named tables (operation ids 11, 12, …) and returns them in the order they were handed over.</summary>
    private static async Task<List<ExportedTable>> ExportAsync(TableExporter exporter, NpgsqlDataSource db, SnapshotWorkers workers, ulong lsn,
        string[] tables, IProgress<ExportProgress>? progress = null, CancellationToken ct = default)
    {
        var list = new List<ExportTable>();
        for (var i = 0; i < tables.Length; i++) list.Add(await ExportTableAsync(db, tables[i], 11 + i));
        var exported = new List<ExportedTable>();
        await exporter.ExportAsync(workers, list, lsn, progress, (_, _) => Task.FromResult(SchemaVersion), table =>
        {
            lock (exported) exported.Add(table);
            return Task.CompletedTask;
        }, ct);
        return exported;
    }

    private static async Task<string> DecompressAsync(IObjectStore store, string path)
    {
        using var gzip = new GZipStream(new MemoryStream(await ReadAsync(store, path)), CompressionMode.Decompress);
        using var text = new StreamReader(gzip, Encoding.UTF8);
        return await text.ReadToEndAsync();
    }

    [Fact]
    public async Task A_table_described_from_the_catalog_has_the_fingerprint_the_stream_gives_it_for_every_replica_identity()
    {
        var (cs, db) = await NewDatabaseAsync("reload_describe", """
            CREATE TYPE mood AS ENUM ('sad', 'happy');
            CREATE DOMAIN short_text AS varchar(8);
            CREATE TABLE d_pk (id int PRIMARY KEY, gone int, note text, twice int GENERATED ALWAYS AS (id * 2) STORED,
                               at timestamptz(3), amount numeric(12,2), tags varchar(5)[], m mood, s short_text, flags bit(3));
            ALTER TABLE d_pk DROP COLUMN gone;
            CREATE TABLE d_nopk (a int, b varchar(20) NOT NULL);
            CREATE TABLE multi_pk (b int, a int, c text, PRIMARY KEY (a, b));
            CREATE TABLE f_pk (id bigint PRIMARY KEY, v text);
            ALTER TABLE f_pk REPLICA IDENTITY FULL;
            CREATE TABLE f_nopk (a text, b jsonb);
            ALTER TABLE f_nopk REPLICA IDENTITY FULL;
            CREATE TABLE n_pk (id int PRIMARY KEY, v text);
            ALTER TABLE n_pk REPLICA IDENTITY NOTHING;
            CREATE TABLE n_nopk (a int, b int);
            ALTER TABLE n_nopk REPLICA IDENTITY NOTHING;
            CREATE TABLE i_idx (id int PRIMARY KEY, code text NOT NULL, region int NOT NULL, v numeric);
            CREATE UNIQUE INDEX i_idx_key ON i_idx (region, code);
            ALTER TABLE i_idx REPLICA IDENTITY USING INDEX i_idx_key;
            CREATE PUBLICATION describe_pub FOR ALL TABLES;
            """);
        await using var _ = db;
        var expectedKeys = new Dictionary<string, string[]>
        {
            ["d_pk"] = ["id"], ["d_nopk"] = ["a", "b"], ["multi_pk"] = ["b", "a"], ["f_pk"] = ["id"], ["f_nopk"] = ["a", "b"],
            ["n_pk"] = ["id"], ["n_nopk"] = ["a", "b"], ["i_idx"] = ["code", "region"],
        };

        await using var replication = new LogicalReplicationConnection(cs);
        await replication.Open();
        var slot = await replication.CreatePgOutputReplicationSlot($"describe_{Guid.NewGuid():N}", temporarySlot: true,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.NoExport);
        await ExecAsync(db, """
            INSERT INTO d_pk (id, note) VALUES (1, 'x'); INSERT INTO d_nopk VALUES (1, 'b'); INSERT INTO multi_pk VALUES (1, 2, 'c');
            INSERT INTO f_pk VALUES (1, 'v'); INSERT INTO f_nopk VALUES ('a', '{}'); INSERT INTO n_pk VALUES (1, 'v');
            INSERT INTO n_nopk VALUES (1, 2); INSERT INTO i_idx VALUES (1, 'c', 2, 3);
            """);

        // Each table as the streaming path describes it (from its RelationMessage) and as the export describes it (catalog only).
        var described = new Dictionary<string, (RelationSchema Stream, RelationSchema Catalog)>();
        var catalog = new RelationCatalog(db);
        await using var conn = await db.OpenConnectionAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var message in replication.StartReplication(slot, new PgOutputReplicationOptions("describe_pub", PgOutputProtocolVersion.V1), timeout.Token))
        {
            if (message is RelationMessage relation)
                described[relation.RelationName] = (await catalog.DescribeAsync(relation, timeout.Token),
                    await RelationCatalog.DescribeTableAsync(conn, relation.RelationId, timeout.Token));
            if (described.Count == expectedKeys.Count) break;
        }

        Assert.Equal(expectedKeys.Keys.Order(), described.Keys.Order());
        foreach (var (table, (stream, fromCatalog)) in described)
        {
            Assert.Equal(stream.Fingerprint, fromCatalog.Fingerprint);
            Assert.Equal(stream.Columns, fromCatalog.Columns);
            Assert.Equal((stream.RelationId, stream.Namespace, stream.Name, stream.ReplicaIdentity),
                (fromCatalog.RelationId, fromCatalog.Namespace, fromCatalog.Name, fromCatalog.ReplicaIdentity));
            Assert.Equal(expectedKeys[table], fromCatalog.Columns.Where(c => c.IsKey).Select(c => c.Name));
        }
        // No dropped or generated column, and PostgreSQL's own type names with their modifiers.
        Assert.Equal(
            "id:integer:k,note:text:,at:timestamp(3) with time zone:,amount:numeric(12,2):,tags:character varying(5)[]:,m:mood:,s:short_text:,flags:bit(3):",
            described["d_pk"].Catalog.Fingerprint);
        Assert.Equal(['f', 'i', 'n', 'd'], new[] { "f_nopk", "i_idx", "n_pk", "d_nopk" }.Select(t => described[t].Catalog.ReplicaIdentity));
    }

    [Fact]
    public async Task Awkward_values_export_to_a_file_that_copy_loads_back_exactly()
    {
        var (cs, db) = await NewDatabaseAsync("reload_awkward", """
            CREATE SCHEMA app;
            CREATE TABLE app.awkward (id int PRIMARY KEY, t text, v varchar(20), b bytea, j jsonb, arr text[], nums int[], ts timestamptz,
                                      d date, n numeric, f float8, iv interval, ok boolean, twice int GENERATED ALWAYS AS (id * 2) STORED);
            INSERT INTO app.awkward (id, t, v, b, j, arr, nums, ts, d, n, f, iv, ok) VALUES
              (1, 'comma, here', 'say "hi"', '\x00ff0a2c22', '{"k": "v,\"x\"\n", "n": null}', ARRAY['a,b', NULL, '"q"', '', 'NULL'],
               '{1,NULL,3}', '2024-02-29 23:59:59.999999+05', 'infinity', 'NaN', 'Infinity', '1 year 2 mons -3 days 04:05:06.789', true),
              (2, E'line one\nline two\r\nline three', '', '\x', '[]', '{}', NULL, '-infinity', '0001-01-01 BC',
               12345678901234567890.123456789, '-0', '0', false),
              (3, '', NULL, NULL, 'null', ARRAY[E'multi\nline', 'back\slash'], '{}', '2000-01-01 00:00:00+00', '2024-01-01', 1e-20, 1.5e300,
               '-1 microsecond', NULL),
              (4, NULL, '\.', NULL, '"just a string"', NULL, NULL, NULL, NULL, -0.5, 'NaN', NULL, NULL),
              (5, '日本語 🐘 ñ', 'ünïcødé', '\xe697a5', '{"emoji": "🐘"}', ARRAY['🐘'], '{-2147483648,2147483647}', 'epoch', 'epoch', 0, 0, '1 day', true),
              (6, ' lead and trail ', '\N', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (7, '"', ',', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            """);
        await using var _ = db;
        string[] columns = ["id", "t", "v", "b", "j", "arr", "nums", "ts", "d", "n", "f", "iv", "ok"];
        var expected = await RowsAsync(db, "app.awkward", columns);

        var options = Options();
        var store = new FileSystemObjectStore(OutputFolder);
        var (workers, lsn) = await SnapshotAsync(cs, db, 2);
        List<ExportedTable> exported;
        await using (workers)
            exported = await ExportAsync(new TableExporter(options, store, new ShutdownBudget(), NullLogger<TableExporter>.Instance), db, workers, lsn, ["app.awkward"]);

        var table = Assert.Single(exported);
        var folder = $"app.awkward/{OutputLayout.ReloadBatch(workers.SnapshotTime, 11)}";
        Assert.Equal(($"{folder}/full_reload.csv.gz", $"{folder}/schema.yml", 7L, 1, lsn), (table.Path, table.SchemaPath, table.Rows, table.Ranges, table.ConsistentLsn));
        // The generated column is not exported: pgoutput does not stream it either.
        Assert.Equal(columns, table.Schema.Columns.Select(c => c.Name));
        var bytes = await ReadAsync(store, table.Path);
        Assert.Equal((Convert.ToHexStringLower(SHA256.HashData(bytes)), (long)bytes.Length), (table.Sha256, table.Bytes));
        var doc = SchemaDocument.Parse(Encoding.UTF8.GetString(await ReadAsync(store, table.SchemaPath)));
        Assert.Equal((SchemaVersion, PgText.Lsn(lsn), PgText.Lsn(lsn), "app.awkward"), (doc.SchemaVersion, doc.StartLsn, doc.EndLsn, doc.Table));

        var loaded = await LoadAsync(db, store, table);
        Assert.Equal(expected, await RowsAsync(db, loaded, columns));

        // Metadata: one _lsn (the consistent point), _op R, one _commit_ts (the snapshot's), no _xid, no unchanged TOAST, _seq 1..n.
        await using (var cmd = db.CreateCommand($"""
            SELECT count(DISTINCT _lsn), min(_lsn)::text, bool_and(_op = 'R'), count(DISTINCT _commit_ts), min(_commit_ts),
                   count(_xid), count(_unchanged_toast), min(_seq), max(_seq), count(DISTINCT _seq) FROM {loaded}
            """))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            Assert.Equal((1L, PgText.Lsn(lsn), true, 1L, workers.SnapshotTime, 0L, 0L, 1L, 7L, 7L),
                (r.GetInt64(0), r.GetString(1), r.GetBoolean(2), r.GetInt64(3), r.GetDateTime(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7),
                    r.GetInt64(8), r.GetInt64(9)));
        }
        // The header and the metadata text are byte for byte those of streaming files.
        var lines = (await DecompressAsync(store, table.Path)).Split('\n');
        Assert.Equal("_lsn,_seq,_op,_commit_ts,_xid,_unchanged_toast," + string.Join(",", columns), lines[0]);
        Assert.StartsWith($"{PgText.Lsn(lsn)},1,R,{PgText.TimestampTz(workers.SnapshotTime)},,,", lines[1]);
        Assert.False(Directory.Exists(ReloadSpool(options)) && Directory.EnumerateFileSystemEntries(ReloadSpool(options)).Any(),
            "the reload spool should be gone once the table is handed over");
    }

    [Fact]
    public async Task The_file_is_the_table_at_the_snapshot_whatever_is_written_after_it()
    {
        var (cs, db) = await NewDatabaseAsync("reload_snapshot", """
            CREATE SCHEMA app;
            CREATE TABLE app.items (id int PRIMARY KEY, v text);
            INSERT INTO app.items SELECT g, 'v' || g FROM generate_series(1, 100) g;
            """);
        await using var _ = db;
        var expected = await RowsAsync(db, "app.items", ["id", "v"]);

        var store = new FileSystemObjectStore(OutputFolder);
        var (workers, lsn) = await SnapshotAsync(cs, db, 2);
        await using (workers)
        {
            // After the snapshot: new rows, deleted rows, changed rows, and a new column.
            await ExecAsync(db, """
                INSERT INTO app.items SELECT g, 'new' FROM generate_series(101, 150) g;
                DELETE FROM app.items WHERE id <= 20;
                UPDATE app.items SET v = 'changed' WHERE id BETWEEN 21 AND 40;
                ALTER TABLE app.items ADD COLUMN extra int DEFAULT 7;
                """);
            var table = Assert.Single(await ExportAsync(new TableExporter(Options(), store, new ShutdownBudget(), NullLogger<TableExporter>.Instance), db, workers, lsn, ["app.items"]));

            Assert.Equal(["id", "v"], table.Schema.Columns.Select(c => c.Name));
            Assert.Equal(100, table.Rows);
            Assert.Equal(expected, await RowsAsync(db, await LoadAsync(db, store, table), ["id", "v"]));
        }
    }

    [Fact]
    public async Task An_export_far_below_the_table_estimate_is_logged_as_a_warning()
    {
        // reltuples says 3000 for both; app.shrunk then lost most of its rows (no autovacuum to re-estimate it).
        var (cs, db) = await NewDatabaseAsync("reload_estimate", """
            CREATE SCHEMA app;
            CREATE TABLE app.shrunk (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
            CREATE TABLE app.steady (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
            INSERT INTO app.shrunk SELECT generate_series(1, 3000);
            INSERT INTO app.steady SELECT generate_series(1, 3000);
            ANALYZE app.shrunk, app.steady;
            DELETE FROM app.shrunk WHERE id > 100;
            DELETE FROM app.steady WHERE id > 2900;
            """);
        await using var _ = db;
        var logger = new RecordingLogger<TableExporter>();
        var (workers, lsn) = await SnapshotAsync(cs, db, 1);
        await using (workers)
            await ExportAsync(new TableExporter(Options(), new FileSystemObjectStore(OutputFolder), new ShutdownBudget(), logger), db, workers, lsn, ["app.shrunk", "app.steady"]);

        var warning = Assert.Single(logger.Warnings);
        Assert.Contains("app.shrunk", warning);
        Assert.Contains("100 row(s)", warning);
        Assert.Contains("3000", warning);
    }

    [Fact]
    public async Task A_table_split_into_many_ctid_ranges_exports_every_row_once_as_one_gzip_stream()
    {
        var (cs, db) = await NewDatabaseAsync("reload_ranges", """
            CREATE SCHEMA app;
            CREATE TABLE app.big (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
            INSERT INTO app.big SELECT g, repeat(md5(g::text), 2) FROM generate_series(1, 20000) g;
            -- Whole ranges with no visible row: their members are empty.
            DELETE FROM app.big WHERE id BETWEEN 5001 AND 9000;
            ANALYZE app.big;
            """);
        await using var _ = db;
        var expected = await RowsAsync(db, "app.big", ["id", "pad"]);

        var options = Options(r => (r.Workers, r.SplitAboveBytes, r.RangeBytes) = (3, 8192, 4 * 8192));
        var store = new FileSystemObjectStore(OutputFolder);
        var progress = new ExportProgressLog();
        var (workers, lsn) = await SnapshotAsync(cs, db, 3);
        ExportedTable table;
        long pages;
        await using (workers)
        {
            // New pages, planned (the size is read now) but invisible to the snapshot.
            await ExecAsync(db, "INSERT INTO app.big SELECT g, 'after' FROM generate_series(20001, 25000) g");
            pages = await ScalarAsync<long>(db, "SELECT pg_relation_size('app.big') / current_setting('block_size')::bigint");
            table = Assert.Single(await ExportAsync(new TableExporter(options, store, new ShutdownBudget(), NullLogger<TableExporter>.Instance), db, workers, lsn, ["app.big"], progress));
        }

        Assert.Equal((pages + 3) / 4, table.Ranges);
        Assert.True(table.Ranges > 10, $"{table.Ranges} ranges");
        Assert.Equal(16_000, table.Rows);
        var loaded = await LoadAsync(db, store, table);
        Assert.Equal(16_000L, await ScalarAsync<long>(db, $"SELECT count(DISTINCT id) FROM {loaded}"));
        Assert.Equal(expected, await RowsAsync(db, loaded, ["id", "pad"]));

        // The file is a concatenation of gzip members (header, then every range); .NET and gzip(1) both read all of it.
        var saved = Path.Combine(_root, "full_reload.csv.gz");
        await File.WriteAllBytesAsync(saved, await ReadAsync(store, table.Path));
        var gunzip = await ProcessRunner.RunAsync("gzip", ["-dc", saved]);
        Assert.Equal(gunzip.EnsureSuccess().StandardOutput, await DecompressAsync(store, table.Path));

        var last = progress.Reports[^1];
        Assert.Equal((11L, 16_000L, table.Ranges, table.Ranges), (last.OperationId, last.Rows, last.RangesDone, last.Ranges));
        Assert.InRange(last.EstimatedRows, 15_000, 17_000);
        Assert.Equal(table.Ranges, progress.Reports.Count);
        Assert.Equal(Enumerable.Range(1, table.Ranges), progress.Reports.Select(p => p.RangesDone));
    }

    [Fact]
    public async Task Tables_are_exported_largest_first()
    {
        var (cs, db) = await NewDatabaseAsync("reload_order", """
            CREATE SCHEMA app;
            CREATE TABLE app.small (id int PRIMARY KEY);
            CREATE TABLE app.large (id int PRIMARY KEY, pad text);
            CREATE TABLE app.medium (id int PRIMARY KEY, pad text);
            INSERT INTO app.small VALUES (1);
            INSERT INTO app.large SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
            INSERT INTO app.medium SELECT g, repeat('x', 100) FROM generate_series(1, 500) g;
            """);
        await using var _ = db;
        var (workers, lsn) = await SnapshotAsync(cs, db, 1);
        await using (workers)
        {
            var exported = await ExportAsync(new TableExporter(Options(), new FileSystemObjectStore(OutputFolder), new ShutdownBudget(), NullLogger<TableExporter>.Instance),
                db, workers, lsn, ["app.small", "app.medium", "app.large"]);
            Assert.Equal(["large", "medium", "small"], exported.Select(t => t.Table.Name.Name));
            Assert.Equal([5000L, 500L, 1L], exported.Select(t => t.Rows));
        }
    }

    [Fact]
    public async Task A_table_with_odd_quoted_names_exports_into_its_encoded_folder()
    {
        var (cs, db) = await NewDatabaseAsync("reload_odd", """
            CREATE SCHEMA "My Schema";
            CREATE TABLE "My Schema"."Odd ""Name"", x" ("Weird ""col"", y" int PRIMARY KEY, "select" text, "ÜmlautÇol" text);
            INSERT INTO "My Schema"."Odd ""Name"", x" VALUES (1, 'a', 'b'), (2, NULL, 'ç');
            """);
        await using var _ = db;
        string[] columns = ["Weird \"col\", y", "select", "ÜmlautÇol"];
        const string qualified = "\"My Schema\".\"Odd \"\"Name\"\", x\"";
        var expected = await RowsAsync(db, qualified, columns);

        // Split, so the range predicate is built around the quoted name too.
        var options = Options(r => (r.SplitAboveBytes, r.RangeBytes) = (0, 8192));
        var store = new FileSystemObjectStore(OutputFolder);
        var (workers, lsn) = await SnapshotAsync(cs, db, 1);
        await using (workers)
        {
            var table = Assert.Single(await ExportAsync(new TableExporter(options, store, new ShutdownBudget(), NullLogger<TableExporter>.Instance), db, workers, lsn, [qualified]));
            Assert.Equal(("My Schema", "Odd \"Name\", x"), (table.Schema.Namespace, table.Schema.Name));
            Assert.StartsWith(OutputLayout.TableFolder(new TableName("My Schema", "Odd \"Name\", x")) + "/", table.Path);
            Assert.Equal(expected, await RowsAsync(db, await LoadAsync(db, store, table), columns));
        }
    }

    [Fact]
    public async Task A_file_larger_than_a_block_reaches_azure_blob_storage_and_loads()
    {
        var (cs, db) = await NewDatabaseAsync("reload_blob", """
            CREATE SCHEMA app;
            CREATE TABLE app.wide (id int PRIMARY KEY, a text, b text, c text);
            INSERT INTO app.wide SELECT g, md5(g::text), md5((g + 1)::text), md5((g + 2)::text) FROM generate_series(1, 100000) g;
            """);
        await using var _ = db;
        await using var azurite = await AzuriteServer.StartAsync();
        var blobs = ObjectStoreFactory.Create(new StorageOptions
        {
            Kind = StorageKind.AzureBlob,
            ConnectionString = azurite.ConnectionString,
            Container = "reload-" + Guid.NewGuid().ToString("N")[..12],
        });
        await blobs.EnsureReadyAsync(default);

        var options = Options(r => (r.SplitAboveBytes, r.RangeBytes) = (1 << 20, 1 << 20));
        var (workers, lsn) = await SnapshotAsync(cs, db, 2);
        await using (workers)
        {
            var table = Assert.Single(await ExportAsync(new TableExporter(options, blobs, new ShutdownBudget(), NullLogger<TableExporter>.Instance), db, workers, lsn, ["app.wide"]));

            Assert.True(table.Bytes > 4 << 20, $"{table.Bytes} bytes: the upload should take several 4 MiB blocks");
            Assert.True(table.Ranges > 5, $"{table.Ranges} ranges");
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await ReadAsync(blobs, table.Path))), table.Sha256);
            var loaded = await LoadAsync(db, blobs, table);
            Assert.Equal(0L, await ScalarAsync<long>(db, $"""
                SELECT count(*) FROM ((SELECT id, a, b, c FROM app.wide EXCEPT ALL SELECT id, a, b, c FROM {loaded})
                                      UNION ALL (SELECT id, a, b, c FROM {loaded} EXCEPT ALL SELECT id, a, b, c FROM app.wide)) d
                """));
            Assert.Equal(100_000L, await ScalarAsync<long>(db, $"SELECT count(*) FROM {loaded}"));
        }
    }

    [Fact]
    public async Task A_failing_unit_stops_the_export_and_leaves_no_file_for_its_table()
    {
        var role = "reload_reader_" + Guid.NewGuid().ToString("N")[..8];
        var (cs, db) = await NewDatabaseAsync("reload_fail", $"""
            CREATE SCHEMA app;
            CREATE TABLE app.good (id int PRIMARY KEY, pad text);
            INSERT INTO app.good SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
            CREATE TABLE app.secret (id int PRIMARY KEY, hidden text);
            INSERT INTO app.secret SELECT g, 'h' FROM generate_series(1, 500) g;
            CREATE ROLE {role} LOGIN;
            GRANT USAGE ON SCHEMA app TO {role};
            GRANT SELECT ON app.good TO {role};
            GRANT SELECT (id) ON app.secret TO {role};
            """);
        await using var _ = db;
        // The workers connect as a role that may not read app.secret's hidden column: every unit of that table fails.
        await using var reader = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(cs) { Username = role }.ConnectionString);

        var options = Options(r => (r.SplitAboveBytes, r.RangeBytes) = (0, 8192));
        var store = new FileSystemObjectStore(OutputFolder);
        // One worker: app.good (the larger) is done before app.secret's first unit fails.
        var (workers, lsn) = await SnapshotAsync(cs, reader, 1);
        var exported = new List<ExportedTable>();
        ExportTable[] tables = [await ExportTableAsync(db, "app.good", 1), await ExportTableAsync(db, "app.secret", 2)];
        await using (workers)
        {
            var e = await Assert.ThrowsAsync<PostgresException>(() =>
                new TableExporter(options, store, new ShutdownBudget(), NullLogger<TableExporter>.Instance).ExportAsync(workers, tables, lsn, null, (_, _) => Task.FromResult(1), t =>
                    {
                        lock (exported) exported.Add(t);
                        return Task.CompletedTask;
                    }, default));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, e.SqlState);
        }

        // The table whose units were all done is handed over; the failed one has nothing in the store, and no spool is left.
        Assert.Equal(["good"], exported.Select(t => t.Table.Name.Name));
        var objects = await store.ListAsync("", default).ToListAsync();
        Assert.All(objects, path => Assert.StartsWith("app.good/", path));
        Assert.Equal(2, objects.Count);
        Assert.False(Directory.Exists(ReloadSpool(options)) && Directory.EnumerateFileSystemEntries(ReloadSpool(options), "*", SearchOption.AllDirectories).Any(),
            "the reload spool should be deleted after a failure");
    }

    [Fact]
    public async Task A_cancelled_export_uploads_nothing_and_leaves_no_spool()
    {
        var (cs, db) = await NewDatabaseAsync("reload_cancel", """
            CREATE SCHEMA app;
            CREATE TABLE app.big (id int PRIMARY KEY, pad text);
            INSERT INTO app.big SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g;
            """);
        await using var _ = db;
        var options = Options(r => (r.SplitAboveBytes, r.RangeBytes) = (8192, 8192));
        var store = new FileSystemObjectStore(OutputFolder);
        using var cancel = new CancellationTokenSource();
        var progress = new ExportProgressLog(_ => cancel.Cancel()); // as soon as the first range is done
        var (workers, lsn) = await SnapshotAsync(cs, db, 1);
        await using (workers)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                ExportAsync(new TableExporter(options, store, new ShutdownBudget(), NullLogger<TableExporter>.Instance), db, workers, lsn, ["app.big"], progress, cancel.Token));
        }

        Assert.Empty(await store.ListAsync("", default).ToListAsync());
        Assert.True(progress.Reports[^1].RangesDone < progress.Reports[^1].Ranges);
        Assert.False(Directory.Exists(ReloadSpool(options)) && Directory.EnumerateFileSystemEntries(ReloadSpool(options), "*", SearchOption.AllDirectories).Any(),
            "the reload spool should be deleted after a cancellation");
    }

    private static async Task<ExportTable> ExportTableAsync(NpgsqlDataSource db, string qualified, long operationId)
    {
        await using var cmd = db.CreateCommand("SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass");
        cmd.Parameters.Add(new() { Value = qualified });
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return new ExportTable(operationId, r.GetFieldValue<uint>(0), new TableName(r.GetString(1), r.GetString(2)));
    }
}
