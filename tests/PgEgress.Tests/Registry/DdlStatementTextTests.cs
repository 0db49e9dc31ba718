using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Registry;

/// <summary>
/// cdc_registry.ddl_statement_text decides whether a captured query is the DDL statement alone: semicolons inside
/// strings (with '' and, for E'', backslash escapes), quoted names, dollar quotes and nested comments end no command;
/// empty statements are none; a $ inside a name starts no dollar quote. Expected answers are written out by hand.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DdlStatementTextTests(PostgresFixture pg)
{
    private const string Several = "-- ALTER TABLE app.t (statement not recorded: the query held several commands)";
    private const string Inside = "-- ALTER TABLE app.t (statement not recorded: it ran inside another command)";

    public static TheoryData<string, string?> Queries => new()
    {
        { "ALTER TABLE app.t ADD a int", null },
        { "alter  table\n app.t add a int;\n", null },
        { "-- why\nALTER TABLE app.t ADD a int", null },
        { "/* a /* nested; */ still; */ ALTER TABLE app.t ADD a int", null },
        { "ALTER TABLE app.t ADD a int;;", null },
        { "ALTER TABLE app.t ADD b text DEFAULT 'it''s; fine'", null },
        { "ALTER TABLE app.t ADD b text DEFAULT E'\\'; still the string'", null },
        { "ALTER TABLE app.t ADD b text DEFAULT $a$ $$; $a$", null },
        { "ALTER TABLE app.t ADD \"we;\"\"ird\" int", null },
        { "ALTER TABLE app.t ADD a int; ALTER ROLE r PASSWORD 'secret'", Several },
        { "ALTER TABLE app.t ADD b text DEFAULT 'a\\'; SELECT 1", Several },
        { "ALTER TABLE app.t ADD a$x$ int; SELECT 'x$x$'", Several },
        { "ALTER TABLE app.t ADD a int -- done; ALTER ROLE r PASSWORD 'secret'\n; SELECT 1", Several },
        { "DO $$ BEGIN ALTER TABLE app.t ADD a int; END $$", Inside },
        { "SELECT app.migrate()", Inside },
    };

    [Theory]
    [MemberData(nameof(Queries))]
    public async Task A_query_is_recorded_whole_only_when_it_is_the_statement_alone(string query, string? expected)
    {
        await using var db = NpgsqlDataSource.Create(await Database());
        await using var cmd = db.CreateCommand("SELECT cdc_registry.ddl_statement_text($1, 'ALTER TABLE', 'app.t')");
        cmd.Parameters.Add(new() { Value = query });

        Assert.Equal(expected ?? query, (string?)await cmd.ExecuteScalarAsync());
    }

    private static readonly SemaphoreSlim Once = new(1, 1);
    private static string? _database;

    /// <summary>One migrated database for every case.</summary>
    private async Task<string> Database()
    {
        await Once.WaitAsync();
        try
        {
            if (_database is null)
            {
                var cs = await pg.CreateUniqueDatabaseAsync("ddl_text");
                await using var db = NpgsqlDataSource.Create(cs);
                await RegistryMigrator.MigrateAsync(db, default);
                _database = cs;
            }
            return _database;
        }
        finally
        {
            Once.Release();
        }
    }
}
