using Npgsql;
using PgEgress.Core.Domain;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Domain;

/// <summary>TableName against PostgreSQL itself: quote_ident prints, parse_ident parses, and the registry's SQL agrees.</summary>
[Collection(PostgresCollection.Name)]
public sealed class TableNameTests(PostgresFixture pg)
{
    public static readonly TheoryData<string, string> Names = new()
    {
        { "public", "orders" },
        { "x.y", "z" },
        { "x", "y.z" },
        { "Sales", "Order Items" },
        { "app", "say \"hi\"" },
        { "app", "select" },
        { "user", "table" },
        { "app", "year" },
        { "app", "a$b" },
        { "app", "_x9" },
        { "app", "9lives" },
        { "Ünïcødé", "テーブル" },
        { "app", "line\nbreak" },
        { "app", new string('é', 31) },
        { "app", "\"" },
    };

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Prints_as_quote_ident_and_parses_back_as_parse_ident_does(string schema, string name)
    {
        var table = new TableName(schema, name);
        await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
        await using var cmd = db.CreateCommand("SELECT quote_ident($1) || '.' || quote_ident($2), parse_ident(quote_ident($1) || '.' || quote_ident($2))");
        cmd.Parameters.Add(new() { Value = schema });
        cmd.Parameters.Add(new() { Value = name });
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        Assert.Equal(r.GetString(0), table.ToString());
        var parsed = TableName.Parse(table.ToString());
        Assert.Equal(r.GetFieldValue<string[]>(1), new[] { parsed.Schema, parsed.Name });
        Assert.Equal(table, TableName.Parse(table.ToString()));
        Assert.Equal(table, TableName.ParseStored(table.ToString()));
    }

    [Theory]
    [InlineData("public.orders", "public", "orders")]
    [InlineData("Public.Orders", "public", "orders")]
    [InlineData("\"Public\".\"Orders\"", "Public", "Orders")]
    [InlineData("\"x.y\".z", "x.y", "z")]
    [InlineData("x.\"y.z\"", "x", "y.z")]
    [InlineData("app.\"say \"\"hi\"\"\"", "app", "say \"hi\"")]
    [InlineData("ÄPP.Ünï", "Äpp", "Ünï")]
    [InlineData("app.a$b", "app", "a$b")]
    public async Task Parses_as_parse_ident_does(string text, string schema, string name)
    {
        await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
        await using var cmd = db.CreateCommand("SELECT parse_ident($1)");
        cmd.Parameters.Add(new() { Value = text });
        var parts = (string[])(await cmd.ExecuteScalarAsync())!;
        Assert.Equal(new[] { schema, name }, parts);
        Assert.Equal(new TableName(schema, name), TableName.Parse(text));
    }

    [Theory]
    [InlineData("", "required")]
    [InlineData("orders", "no schema")]
    [InlineData("otherdb.public.t", "3 dot-separated parts")]
    [InlineData("app.", "missing")]
    [InlineData(".t", "missing")]
    [InlineData("app.\"open", "not closed")]
    [InlineData("app.\"\"", "empty")]
    [InlineData("app.t x", "unexpected ' '")]
    [InlineData("app.9t", "cannot start with '9'")]
    [InlineData("app.t;drop table x", "unexpected ';'")]
    public void Rejects_what_is_not_schema_dot_table(string text, string problem)
    {
        Assert.False(TableName.TryParse(text, out _, out var message));
        Assert.Contains(problem, message);
    }

    [Fact]
    public void Counts_the_63_byte_limit_in_utf8_bytes()
    {
        Assert.True(TableName.TryParse($"app.\"{new string('é', 31)}\"", out _, out _)); // 62 bytes
        Assert.False(TableName.TryParse($"app.\"{new string('é', 32)}\"", out _, out var problem)); // 64 bytes, 32 characters
        Assert.Contains("64 bytes", problem);
    }

    [Fact]
    public void Stored_legacy_names_split_at_the_first_dot()
    {
        Assert.Equal(new TableName("public", "Orders"), TableName.ParseStored("public.Orders"));
        Assert.Equal(new TableName("x", "y.z"), TableName.ParseStored("x.y.z"));
    }

    [Fact]
    public async Task The_registry_sql_names_every_table_exactly_as_the_engine_does()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("table_name_sql");
        await using var db = NpgsqlDataSource.Create(cs);
        await RegistryMigrator.MigrateAsync(db, default);
        foreach (var (schema, name) in Names.Select(n => ((string)n[0], (string)n[1])))
        {
            await using var cmd = db.CreateCommand("SELECT cdc_registry.table_name($1, $2)");
            cmd.Parameters.Add(new() { Value = schema });
            cmd.Parameters.Add(new() { Value = name });
            Assert.Equal(new TableName(schema, name).ToString(), await cmd.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task The_keywords_quoted_are_those_postgresql_quotes()
    {
        await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
        await using var cmd = db.CreateCommand("SELECT array_agg(word ORDER BY word) FROM pg_get_keywords() WHERE catcode <> 'U'");
        var server = (string[])(await cmd.ExecuteScalarAsync())!;
        // Newer servers may add keywords; every one of ours must still be one the server quotes.
        Assert.Subset(server.ToHashSet(), SqlKeywords.NeedQuoting.ToHashSet());
        await using var conn = await db.OpenConnectionAsync();
        if (conn.PostgreSqlVersion.Major == 15) Assert.Equal(server.Order(StringComparer.Ordinal), SqlKeywords.NeedQuoting.Order(StringComparer.Ordinal));
    }
}
