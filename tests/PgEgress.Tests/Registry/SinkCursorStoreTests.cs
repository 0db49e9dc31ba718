using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Registry;

/// <summary>An event sink's cursor with its progress inside transactions (cursors.partial), against a real registry.</summary>
[Collection(PostgresCollection.Name)]
public sealed class SinkCursorStoreTests(PostgresFixture pg)
{
    private async Task<NpgsqlDataSource> RegistryAsync(string name)
    {
        var db = NpgsqlDataSource.Create(await pg.CreateUniqueDatabaseAsync(name));
        await RegistryMigrator.MigrateAsync(db, default);
        return db;
    }

    [Fact]
    public async Task Progress_is_stored_with_the_position_and_an_older_position_does_not_overwrite_it()
    {
        await using var db = await RegistryAsync("registry_sink_cursor");
        var registry = new RegistryStore(db);
        var none = await registry.GetSinkCursorAsync("s", "sink:a", default);
        Assert.Equal((0UL, 0), (none.Lsn, none.Partial.Count));

        await registry.SaveSinkCursorAsync("s", "sink:a", new SinkCursor(0x200, [new PartialTransaction(0x300, 7, [0b101])]), default);
        await registry.SaveSinkCursorAsync("s", "sink:a", new SinkCursor(0x100, []), default);

        var read = await registry.GetSinkCursorAsync("s", "sink:a", default);
        Assert.Equal(0x200UL, read.Lsn);
        var partial = Assert.Single(read.Partial);
        Assert.Equal((0x300UL, 7), (partial.EndLsn, partial.Through));
        Assert.Equal([0b101], partial.After);
        Assert.Equal(0x200UL, (await registry.GetCursorAsync("s", "sink:a", default))!.Lsn);

        // Past the transaction: no progress is left.
        await registry.SaveSinkCursorAsync("s", "sink:a", new SinkCursor(0x300, []), default);
        await using var cmd = db.CreateCommand("SELECT partial IS NULL FROM cdc_registry.cursors WHERE consumer = 'sink:a'");
        Assert.True((bool)(await cmd.ExecuteScalarAsync())!);
    }

    [Theory]
    [InlineData("""{"not": "a list"}""")]
    [InlineData("""[{"EndLsn": 768, "Through": -1, "After": ""}]""")]
    [InlineData("""[{"EndLsn": 768, "Through": 3}]""")]
    public async Task A_damaged_progress_column_is_a_clear_error_naming_the_way_out(string json)
    {
        await using var db = await RegistryAsync("registry_sink_cursor_bad");
        await using (var cmd = db.CreateCommand("INSERT INTO cdc_registry.cursors (slot, consumer, lsn, partial) VALUES ('s', 'sink:a', '0/200', $1::jsonb)"))
        {
            cmd.Parameters.Add(new() { Value = json });
            await cmd.ExecuteNonQueryAsync();
        }

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new RegistryStore(db).GetSinkCursorAsync("s", "sink:a", default));
        Assert.Contains("cdc_registry.cursors.partial of 'sink:a'", e.Message);
        Assert.Contains("set it to NULL", e.Message);
    }
}
