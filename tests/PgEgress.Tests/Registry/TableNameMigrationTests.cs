using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Reload;

namespace PgEgress.Tests.Registry;

/// <summary>Migration 3 rewrites the bare "schema.table" names of an existing registry into the quoted form.</summary>
[Collection(PostgresCollection.Name)]
public sealed class TableNameMigrationTests(PostgresFixture pg)
{
    [Fact]
    public async Task Existing_rows_get_the_quoted_name_of_the_table_they_meant()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("registry_names");
        await using var db = NpgsqlDataSource.Create(cs);
        await ReloadRig.ExecAsync(db, """
            CREATE SCHEMA app; CREATE TABLE app."Orders" (id int PRIMARY KEY);
            CREATE SCHEMA "my.schema"; CREATE TABLE "my.schema".t (id int);
            """);
        await RegistryMigrator.MigrateAsync(db, 2, default);
        // As versions before 3 wrote them: parts bare, joined by a dot.
        await ReloadRig.ExecAsync(db, """
            INSERT INTO cdc_registry.table_state (table_name, schema_version, schema_fingerprint) VALUES
                ('app.Orders', 1, 'f'), ('my.schema.t', 1, 'f'), ('app.gone', 1, 'f'), ('public.plain', 1, 'f');
            INSERT INTO cdc_registry.file_log (table_name, batch, path, file_type, start_lsn, end_lsn, rows, bytes, sha256, schema_version) VALUES
                ('app.Orders', 'b', 'p1', 'streaming', '0/1', '0/2', 1, 1, 's', 1),
                ('my.schema.t', 'b', 'p2', 'streaming', '0/1', '0/2', 1, 1, 's', 1),
                ('app.gone', 'b', 'p3', 'streaming', '0/1', '0/2', 1, 1, 's', 1);
            INSERT INTO cdc_registry.operations (slot, kind, requested_via, table_oid, table_name) VALUES ('s', 'reload', 'sql', 1, 'app.Orders');
            INSERT INTO cdc_registry.ddl_history (slot, table_oid, table_name, command_tag, statement) VALUES ('s', 1, 'my.schema.t', 'ALTER TABLE', 'x');
            """);

        await RegistryMigrator.MigrateAsync(db, default);

        async Task<string[]> Names(string table) =>
            await ReloadRig.ScalarAsync<string[]>(db, $"SELECT array_agg(table_name ORDER BY table_name COLLATE \"C\") FROM cdc_registry.{table}");
        // A bare name one current table spells is that table; one no table spells splits at its first dot.
        Assert.Equal(["\"my.schema\".t", "app.\"Orders\"", "app.gone", "public.plain"], await Names("table_state"));
        Assert.Equal(["\"my.schema\".t", "app.\"Orders\"", "app.gone"], await Names("file_log"));
        Assert.Equal(["app.\"Orders\""], await Names("operations"));
        Assert.Equal(["\"my.schema\".t"], await Names("ddl_history"));
    }
}
