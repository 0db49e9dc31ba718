using Npgsql;
using PgEgress.Core.Output;
using PgEgress.Testing;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Reload;

/// <summary>
/// What the DDL event triggers record: the statement text only when the query was that one statement (psql -c with
/// several commands, or a DO block, may carry a password), one row per live pipeline, and a ddl.sql that a table name
/// holding a line break cannot forge a statement header in. Statements are sent by psql, whose -c string is one
/// simple-protocol query, as an operator's would be.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DdlCaptureTests(PostgresFixture pg) : IDisposable
{
    private const string Password = "Ddl-Secret-4Jq8-never-recorded";
    private const string EvilName = "e\n-- lsn 0/1 committed x\nDROP TABLE app.victim"; // under 63 bytes

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-ddlcap-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task PsqlAsync(string connectionString, string sql)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        var result = await ProcessRunner.RunAsync(Path.Combine(PostgresCluster.FindBinDir(), "psql"),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", b.Host!, "-p", b.Port.ToString(), "-U", b.Username ?? "postgres", "-d", b.Database!, "-c", sql]);
        result.EnsureSuccess("psql");
    }

    private static async Task<string> DdlScriptAsync(InProcessPipeline pipeline, NpgsqlDataSource db, string table)
    {
        var path = await ReloadRig.ScalarAsync<string>(db,
            "SELECT path FROM cdc_registry.file_log WHERE table_name = $1 AND file_type = 'ddl' ORDER BY end_lsn DESC LIMIT 1", table);
        await using var file = (await pipeline.Store.OpenReadAsync(path, default))!;
        using var reader = new StreamReader(file);
        return await reader.ReadToEndAsync();
    }

    private static async Task<List<string>> StatementsAsync(NpgsqlDataSource db, string table)
    {
        await using var cmd = db.CreateCommand("SELECT statement FROM cdc_registry.ddl_history WHERE table_name = $1 ORDER BY id");
        cmd.Parameters.Add(new() { Value = table });
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }

    private static async Task<List<string>> AllHistoryAsync(NpgsqlDataSource db)
    {
        await using var cmd = db.CreateCommand("SELECT format('%s | %s | %s | %s', slot, table_name, command_tag, statement) FROM cdc_registry.ddl_history ORDER BY id");
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }

    [Fact]
    public async Task Only_a_query_that_is_the_statement_alone_is_recorded_and_ddl_sql_cannot_be_forged()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("ddl_capture");
        await using var db = NpgsqlDataSource.Create(cs);
        var role = "ddlcap_" + Guid.NewGuid().ToString("N")[..8];
        await ReloadRig.ExecAsync(db, $"""
            CREATE SCHEMA app;
            CREATE TABLE app.t (id int PRIMARY KEY);
            CREATE TABLE app.victim (id int PRIMARY KEY);
            CREATE ROLE {role} NOLOGIN;
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        await using var pipeline = await InProcessPipeline.StartAsync(options);
        // A second slot decodes the WAL as text, to see the markers the triggers write there.
        var peek = options.Source.Slot + "_peek";
        await ReloadRig.ExecAsync(db, $"SELECT pg_create_logical_replication_slot('{peek}', 'test_decoding')");
        // A pipeline removed long ago: its slot is gone, so nothing may be recorded for it.
        await ReloadRig.ExecAsync(db, $"INSERT INTO cdc_registry.pipelines (slot, publication) VALUES ('gone_pipeline', '{options.Source.Publication}')");
        try
        {
            await ReloadRig.ExecAsync(db, "INSERT INTO app.victim VALUES (1)");
            await PsqlAsync(cs, "ALTER TABLE app.t ADD COLUMN a int");
            await PsqlAsync(cs, $"ALTER TABLE app.t ADD COLUMN b int; ALTER ROLE {role} PASSWORD '{Password}'");
            await PsqlAsync(cs, $"DO $$ BEGIN ALTER TABLE app.t ADD COLUMN c int; EXECUTE 'ALTER ROLE {role} PASSWORD ''{Password}'''; END $$");
            // One ALTER TABLE with several subcommands is one command, and semicolons in strings, names and comments are not commands.
            await PsqlAsync(cs, "/* one; */ ALTER TABLE app.t ADD COLUMN \"d;\" text DEFAULT 'x;y', ADD COLUMN e text DEFAULT $q$;$q$; -- done;");
            await PsqlAsync(cs, $"CREATE TABLE app.\"{EvilName}\" (id int PRIMARY KEY)");
            await PsqlAsync(cs, $"ALTER TABLE app.\"{EvilName}\" ADD COLUMN x int");
            await PsqlAsync(cs, $"ALTER TABLE app.\"{EvilName}\" ADD COLUMN y int; SELECT 1");
            await pipeline.FlushAsync();

            Assert.Equal(
            [
                "ALTER TABLE app.t ADD COLUMN a int",
                "-- ALTER TABLE app.t (statement not recorded: the query held several commands)",
                "-- ALTER TABLE app.t (statement not recorded: it ran inside another command)",
                "/* one; */ ALTER TABLE app.t ADD COLUMN \"d;\" text DEFAULT 'x;y', ADD COLUMN e text DEFAULT $q$;$q$; -- done;",
            ], await StatementsAsync(db, "app.t"));
            Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.ddl_history WHERE slot = 'gone_pipeline'"));
            Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.ddl_history WHERE statement LIKE '%' || $1 || '%'", Password));
            Assert.True(await ReloadRig.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_logical_slot_peek_changes('{peek}', NULL, NULL) WHERE data LIKE '%\"type\" : \"ddl\"%'") >= 4,
                "the WAL has no DDL markers to look into");
            Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_logical_slot_peek_changes('{peek}', NULL, NULL) WHERE data LIKE '%' || $1 || '%'", Password));
            var script = await DdlScriptAsync(pipeline, db, "app.t");
            Assert.DoesNotContain(Password, script, StringComparison.Ordinal);

            // ddl.sql splits at its header lines into exactly the statements recorded for the table.
            var evil = $"app.\"{EvilName}\""; // the registry's quoted form, as quote_ident prints it
            var evilStatements = await StatementsAsync(db, evil);
            Assert.True(evilStatements.Count == 3, string.Join("\n", await AllHistoryAsync(db)));
            Assert.Equal($"-- ALTER TABLE {evil.Replace("\n", "\\n")} (statement not recorded: the query held several commands)", evilStatements[2]);
            var evilScript = await DdlScriptAsync(pipeline, db, evil);
            var headers = evilScript.Split('\n').Count(line => line.StartsWith("-- lsn ", StringComparison.Ordinal));
            Assert.True(headers == evilStatements.Count, $"{headers} header lines for {evilStatements.Count} statements:\n{evilScript}");
            Assert.DoesNotContain(evilScript.Split('\n'), line => line.StartsWith("DROP TABLE", StringComparison.Ordinal));

            // A drop, caught by the sql_drop trigger, is recorded for the live pipeline only, too.
            await PsqlAsync(cs, "DROP TABLE app.victim");
            await pipeline.FlushAsync();
            Assert.Equal(["DROP TABLE app.victim"], await StatementsAsync(db, "app.victim"));
            Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(db, "SELECT count(*) FROM cdc_registry.ddl_history WHERE slot = 'gone_pipeline'"));
        }
        finally
        {
            await ReloadRig.ExecAsync(db, $"SELECT pg_drop_replication_slot('{peek}'); DROP ROLE {role}");
        }
    }
}
