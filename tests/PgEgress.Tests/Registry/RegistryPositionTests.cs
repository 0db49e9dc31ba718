using PgEgress.Core.Domain;
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
    public async Task A_reload_marker_is_recorded_from_its_own_payload_once_however_often_its_segment_is_registered()
    {
        await using var db = await RegistryAsync("registry_marker");
        var registry = new RegistryStore(db);
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        // Operation 7's row is not there (as when its request's commit is not visible yet); operation 8's is.
        await using (var cmd = db.CreateCommand("""
            INSERT INTO cdc_registry.operations (id, slot, kind, requested_via, table_oid, table_name) VALUES (8, 's', 'reload', 'http', 16390, 'app.u')
            """))
            await cmd.ExecuteNonQueryAsync();
        StagedReloadMarker[] markers =
        [
            new(7, 0x150, new ReloadMarkerRequest(16384, new TableName("app", "t"), "sql", at)),
            new(8, 0x160, new ReloadMarkerRequest(16390, new TableName("app", "u"), "http", at)),
        ];
        var segment = new SegmentRecord("s", 0x100, 0x200, "_staging/s/a.seg", 2, 2, 10, "x");
        await registry.RegisterSegmentAsync(segment, markers, default);
        // Replayed, and then a later marker of the same operation: the first position stays.
        await registry.RegisterSegmentAsync(segment, markers, default);
        await registry.RegisterSegmentAsync(new SegmentRecord("s", 0x200, 0x300, "_staging/s/b.seg", 1, 1, 10, "y"),
            [new(7, 0x250, new ReloadMarkerRequest(16384, new TableName("app", "t"), "sql", at))], default);

        var operations = new OperationStore(db);
        var seven = (await operations.GetAsync(7, default))!;
        Assert.Equal((0x150UL, 16384U, "app.t", "sql", OperationRecord.Requested), (seven.MarkerLsn!.Value, seven.TableOid, seven.Table.ToString(), seven.RequestedVia, seven.State));
        Assert.Equal(at.UtcDateTime, seven.RequestedAt.ToUniversalTime());
        Assert.Equal(0x160UL, (await operations.GetAsync(8, default))!.MarkerLsn);
        Assert.Equal(2, (await operations.GetRecentAsync("s", 10, default)).Count);
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
