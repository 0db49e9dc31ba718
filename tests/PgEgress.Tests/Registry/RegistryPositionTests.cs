using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Registry;

/// <summary>Registry rules the pipeline's safety rests on, against a real registry.</summary>
[Collection(PostgresCollection.Name)]
public sealed class RegistryPositionTests(PostgresFixture pg)
{
    private async Task<NpgsqlDataSource> RegistryAsync(string name)
    {
        var db = NpgsqlDataSource.Create(await pg.CreateUniqueDatabaseAsync(name));
        await RegistryMigrator.MigrateAsync(db, default);
        return db;
    }

    [Fact]
    public async Task The_staged_position_comes_from_segments_and_the_flush_cursor_never_from_a_sink_cursor()
    {
        await using var db = await RegistryAsync("registry_staged");
        var registry = new RegistryStore(db);
        await registry.RegisterSegmentAsync(new SegmentRecord("s", 0x100, 0x200, "_staging/s/a.seg", 1, 1, 10, "x"), [], default);
        await registry.AdvanceCursorAsync("s", "flush", 0x180, default);
        // A Postgres target's own cursor can be ahead of this pipeline (another pipeline's sink of the same name).
        await registry.AdvanceCursorAsync("s", "sink:mirror", 0x9000, default);

        Assert.Equal(0x200UL, await registry.GetStagedLsnAsync("s", default));
    }

    [Fact]
    public async Task A_completed_reload_is_not_turned_into_a_failed_one()
    {
        await using var db = await RegistryAsync("registry_fail_guard");
        await using (var cmd = db.CreateCommand("""
            INSERT INTO cdc_registry.operations (id, slot, kind, requested_via, table_oid, table_name, state, marker_lsn, consistent_lsn)
            VALUES (1, 's', 'reload', 'sql', 16384, 'app.t', 'completed', '0/100', '0/200'),
                   (2, 's', 'reload', 'sql', 16385, 'app.u', 'exporting', '0/100', '0/200')
            """))
            await cmd.ExecuteNonQueryAsync();
        var operations = new OperationStore(db);

        await operations.FailAsync(1, "a late failure report", final: true, default);
        await operations.FailAsync(2, "export failed", final: true, default);

        Assert.Equal(OperationRecord.Completed, (await operations.GetAsync(1, default))!.State);
        Assert.Equal(OperationRecord.Failed, (await operations.GetAsync(2, default))!.State);
    }
}
