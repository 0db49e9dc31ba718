using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Functions;

/// <summary>
/// Core's <see cref="TimerFlush"/>, which the Functions flush timer (0 */5 * * * *) calls: each tick cuts at the window
/// boundary it belongs to, a tick a little early still counts for its boundary, and a tick whose boundary is already
/// cut does nothing. Against a real PostgreSQL registry.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class TimerFlushTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-timerflush-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static DateTime At(string time) => DateTime.SpecifyKind(DateTime.Parse($"2026-01-01T{time}", System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc);

    [Fact]
    public async Task Five_minute_ticks_cut_at_their_boundary_once()
    {
        await using var pipeline = await StartAsync("timer_flush_5", TimeSpan.FromMinutes(5));
        var (flush, clock) = TimerFlushAt(pipeline);

        clock.Now = At("10:04:57");                     // three seconds early
        Assert.Equal((At("10:05:00"), "20260101T100000Z"), Cut(await flush.RunAsync(default)));
        clock.Now = At("10:05:20");                     // the same tick again, late
        Assert.Null(await flush.RunAsync(default));
        clock.Now = At("10:10:00.200");
        Assert.Equal((At("10:10:00"), "20260101T100500Z"), Cut(await flush.RunAsync(default)));
        Assert.Equal(At("10:10:00"), pipeline.Get<IngestProgress>().Snapshot().Flush?.Cut);
    }

    [Fact]
    public async Task With_a_longer_window_the_ticks_between_boundaries_do_nothing()
    {
        await using var pipeline = await StartAsync("timer_flush_10", TimeSpan.FromMinutes(10));
        var (flush, clock) = TimerFlushAt(pipeline);

        clock.Now = At("10:10:00.100");
        Assert.Equal((At("10:10:00"), "20260101T100000Z"), Cut(await flush.RunAsync(default)));
        clock.Now = At("10:15:00.100");
        Assert.Null(await flush.RunAsync(default));
        clock.Now = At("10:19:58");
        Assert.Equal((At("10:20:00"), "20260101T101000Z"), Cut(await flush.RunAsync(default)));
    }

    private static (DateTime, string) Cut(FlushResult? result)
    {
        Assert.NotNull(result);
        return (result.Cut, result.Batch);
    }

    private async Task<InProcessPipeline> StartAsync(string database, TimeSpan interval)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        await using (var db = NpgsqlDataSource.Create(cs))
        await using (var cmd = db.CreateCommand("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY)"))
            await cmd.ExecuteNonQueryAsync();
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, database));
        options.Batch.Interval = interval;
        return await InProcessPipeline.StartAsync(options, ingest: false);
    }

    private static (TimerFlush Flush, ManualClock Clock) TimerFlushAt(InProcessPipeline pipeline)
    {
        var clock = new ManualClock();
        var flush = new TimerFlush(pipeline.Options, pipeline.Get<BatchFlusher>(), pipeline.Get<RegistryStore>(),
            pipeline.Get<IngestProgress>(), clock, NullLogger<TimerFlush>.Instance);
        return (flush, clock);
    }

    private sealed class ManualClock : TimeProvider
    {
        public DateTime Now { get; set; }

        public override DateTimeOffset GetUtcNow() => new(Now);
    }
}
