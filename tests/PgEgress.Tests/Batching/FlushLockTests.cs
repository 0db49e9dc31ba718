using Npgsql;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Batching;

/// <summary>The flush's advisory lock is released when the flush ends, not left on a pooled connection to block the next one.</summary>
[Collection(PostgresCollection.Name)]
public sealed class FlushLockTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-flushlock-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task No_advisory_lock_is_held_once_a_flush_has_returned()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("flush_lock");
        await using var db = NpgsqlDataSource.Create(cs);
        await using (var cmd = db.CreateCommand("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY)")) await cmd.ExecuteNonQueryAsync();
        await using var pipeline = await InProcessPipeline.StartAsync(InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out")));
        await using (var cmd = db.CreateCommand("INSERT INTO app.t VALUES (1)")) await cmd.ExecuteNonQueryAsync();

        await pipeline.FlushAsync();

        await using var locks = db.CreateCommand("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()");
        Assert.Equal(0L, await locks.ExecuteScalarAsync());
    }
}
