using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// DDL mid-stream: columns added, dropped, renamed and retyped with writes between, some within one window, and a
/// table added to the publication. Everything keeps flowing without a restart; every file loads with COPY against its
/// own schema.yml; the rebuild is exact; the DDL is in ddl.sql and ddl_history.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DdlEvolutionTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-ddl-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Column_changes_and_a_table_added_to_the_publication_keep_flowing_and_rebuild_exactly()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("ddl_evolution");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA app;
            CREATE TABLE app.evolve (id int PRIMARY KEY, a int, b text, c text);
            CREATE TABLE app.late (id int PRIMARY KEY, v text);
            INSERT INTO app.late SELECT g, 'before it was published ' || g FROM generate_series(1, 500) g;
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        // A publication for named tables, so that app.late joins it only when ALTER PUBLICATION adds it.
        options.Source.Schemas = [];
        options.Source.Tables = ["app.evolve"];
        await using var pipeline = await InProcessPipeline.StartAsync(options, reloads: true);

        async Task Step(string sql) => await ReloadRig.ExecAsync(db, sql);
        await Step("INSERT INTO app.evolve SELECT g, g, 'b' || g, 'c' || g FROM generate_series(1, 100) g");
        await Step("ALTER TABLE app.evolve ADD COLUMN d timestamptz");
        await Step("INSERT INTO app.evolve VALUES (101, 101, 'b101', 'c101', '2026-11-23 10:00+00'); UPDATE app.evolve SET d = now() WHERE id <= 10");
        await pipeline.FlushAsync();

        // Within one window: drop, rename and retype with writes between, then flush once.
        await Step("ALTER TABLE app.evolve DROP COLUMN c");
        await Step("UPDATE app.evolve SET b = b || '!' WHERE id BETWEEN 11 AND 20; DELETE FROM app.evolve WHERE id = 21");
        await Step("ALTER TABLE app.evolve RENAME COLUMN b TO label");
        await Step("INSERT INTO app.evolve (id, a, label) VALUES (102, 102, 'renamed'); UPDATE app.evolve SET label = 'r' WHERE id = 22");
        await Step("ALTER TABLE app.evolve ALTER COLUMN a TYPE bigint");
        await Step("UPDATE app.evolve SET a = a * 10000000000 WHERE id <= 5; INSERT INTO app.evolve (id, a, label) VALUES (103, 9000000000, 'big')");

        // A table joins the publication: its existing rows come through an automatic reload.
        await Step($"ALTER PUBLICATION {options.Source.Publication} ADD TABLE app.late");
        await Step("UPDATE app.late SET v = v || ' (updated after)' WHERE id <= 50; INSERT INTO app.late VALUES (501, 'after')");
        var ops = await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 1, TimeSpan.FromMinutes(2));
        Assert.Equal(("app.late", "publication", OperationRecord.Completed), (ops[0].Table.ToString(), ops[0].RequestedVia, ops[0].State));
        await Step("DELETE FROM app.late WHERE id = 7; INSERT INTO app.evolve (id, a, label) VALUES (104, 1, 'last')");
        await pipeline.FlushAsync();

        var verifier = new Verification.OutputVerifier(db, pipeline.Store);
        var evolve = await verifier.RebuildAsync("app", "evolve");
        Assert.True(evolve.Differences.Count == 0, string.Join("\n", evolve.Differences));
        Assert.Empty(evolve.DuplicatePositions);
        Assert.True(evolve.SchemaVersions >= 5, $"app.evolve: {evolve.SchemaVersions} schema version(s) among its files");
        Assert.True(evolve.DdlFiles >= 2, $"app.evolve: {evolve.DdlFiles} ddl.sql file(s)");
        var late = await verifier.RebuildAsync("app", "late");
        Assert.True(late.Differences.Count == 0, string.Join("\n", late.Differences));
        Assert.Equal(1, late.ReloadFiles);

        // Every shape change of the second window has its own folder, and the window's DDL is in its ddl.sql in order.
        var folders = await ReloadRig.ScalarAsync<string[]>(db, """
            SELECT array_agg(DISTINCT batch ORDER BY batch) FROM cdc_registry.file_log WHERE table_name = 'app.evolve' AND file_type = 'streaming'
            """);
        Assert.True(folders.Count(f => f.Contains("_v", StringComparison.Ordinal)) >= 2, "folders: " + string.Join(", ", folders));
        var ddlPath = await ReloadRig.ScalarAsync<string>(db,
            "SELECT path FROM cdc_registry.file_log WHERE table_name = 'app.evolve' AND file_type = 'ddl' ORDER BY end_lsn DESC LIMIT 1");
        string ddl;
        await using (var file = (await pipeline.Store.OpenReadAsync(ddlPath, default))!)
        using (var reader = new StreamReader(file))
            ddl = await reader.ReadToEndAsync();
        var drop = ddl.IndexOf("DROP COLUMN c", StringComparison.Ordinal);
        var rename = ddl.IndexOf("RENAME COLUMN b TO label", StringComparison.Ordinal);
        var retype = ddl.IndexOf("ALTER COLUMN a TYPE bigint", StringComparison.Ordinal);
        Assert.True(drop >= 0 && drop < rename && rename < retype, "ddl.sql:\n" + ddl);
        Assert.True(await ReloadRig.ScalarAsync<bool>(db,
            "SELECT bool_and(has_ddl) FROM cdc_registry.file_log WHERE table_name = 'app.evolve' AND file_type = 'streaming' AND batch LIKE split_part($1, '/', 2) || '%'", ddlPath));
        Assert.Equal(4L, await ReloadRig.ScalarAsync<long>(db,
            "SELECT count(*) FROM cdc_registry.ddl_history WHERE table_name = 'app.evolve' AND command_tag = 'ALTER TABLE'"));
        foreach (var folder in folders)
        {
            var path = $"app.evolve/{folder}/schema.yml";
            await using var schema = (await pipeline.Store.OpenReadAsync(path, default))!;
            using var reader = new StreamReader(schema);
            Assert.NotEmpty(Verification.SchemaYaml.Parse(await reader.ReadToEndAsync(), path).Columns);
        }

        // A whole schema joins the publication: each of its tables comes with its rows through a reload.
        await Step("CREATE SCHEMA app2; CREATE TABLE app2.extra (id int PRIMARY KEY, v text); INSERT INTO app2.extra SELECT g, 'x' || g FROM generate_series(1, 50) g");
        await Step($"ALTER PUBLICATION {options.Source.Publication} ADD TABLES IN SCHEMA app2");
        await Step("UPDATE app2.extra SET v = 'changed' WHERE id <= 5; DELETE FROM app2.extra WHERE id = 50");
        ops = await ReloadRig.WaitForOperationsAsync(db, options.Source.Slot, 2, TimeSpan.FromMinutes(2));
        Assert.Contains(ops, o => o.Table.ToString() == "app2.extra" && o is { RequestedVia: "publication", State: OperationRecord.Completed });
        await pipeline.FlushAsync();
        var extra = await verifier.RebuildAsync("app2", "extra");
        Assert.True(extra.Differences.Count == 0 && extra.ReloadFiles == 1, string.Join("\n", extra.Differences));

        // A dropped table is gone from the publication by the time the statement ends; the drop is still recorded.
        await Step("DROP TABLE app.late");
        await pipeline.FlushAsync();
        Assert.Equal(1L, await ReloadRig.ScalarAsync<long>(db,
            "SELECT count(*) FROM cdc_registry.ddl_history WHERE table_name = 'app.late' AND command_tag = 'DROP TABLE'"));
        Assert.Equal(1L, await ReloadRig.ScalarAsync<long>(db,
            "SELECT count(*) FROM cdc_registry.file_log WHERE table_name = 'app.late' AND file_type = 'ddl'"));
    }
}
