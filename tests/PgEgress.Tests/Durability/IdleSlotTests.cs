using System.Diagnostics;
using NpgsqlTypes;
using PgEgress.Core.Replication;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Durability;

/// <summary>
/// The invariant "when the published tables are idle, the slot still advances": writes that only touch an unpublished
/// table produce nothing to stage, yet the slot's confirmed_flush_lsn must move past them, or the source keeps WAL
/// for an idle pipeline forever.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class IdleSlotTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-idle-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Writes_to_unpublished_tables_only_still_advance_the_slot_with_heartbeats()
    {
        var elapsed = await RunAsync("idle_heartbeat", TimeSpan.FromSeconds(1));
        output.WriteLine($"slot passed the unpublished writes {elapsed.TotalSeconds:0.0} s after them (heartbeat interval 1 s)");
    }

    /// <summary>No heartbeat in the test's lifetime: only acknowledging the server's keepalive positions can move the slot.</summary>
    [Fact]
    public async Task Writes_to_unpublished_tables_only_advance_the_slot_by_keepalive_positions_alone()
    {
        var elapsed = await RunAsync("idle_keepalive", TimeSpan.FromHours(1));
        output.WriteLine($"slot passed the unpublished writes {elapsed.TotalSeconds:0.0} s after them (no heartbeat)");
    }

    /// <summary>
    /// The Functions app makes a new consumer for every slice; the heartbeat must still come once the published tables
    /// have been quiet for the interval. A test_decoding probe slot in the same database sees the heartbeat messages.
    /// </summary>
    [Fact]
    public async Task A_consumer_per_slice_still_writes_heartbeats_when_everything_is_quiet()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "idle_per_slice");
        var options = InProcessPipeline.DefaultOptions(rig.ConnectionString, Path.Combine(_root, "per_slice"));
        options.Source.Slot = rig.Slot;
        options.Slice.MaxDuration = TimeSpan.FromMilliseconds(300);
        options.Slice.HeartbeatInterval = TimeSpan.FromSeconds(1);
        await using var pipeline = await InProcessPipeline.StartAsync(options, ingest: false);
        var probe = rig.Slot + "_probe";
        await rig.ExecAsync($"SELECT pg_create_logical_replication_slot('{probe}', 'test_decoding')");
        try
        {
            const string heartbeats = "SELECT count(*) FROM pg_logical_slot_peek_changes($1, NULL, NULL) WHERE data LIKE '%prefix: pgegress%heartbeat%'";
            var clock = Stopwatch.StartNew();
            while (await rig.ScalarAsync<long>(heartbeats.Replace("$1", $"'{probe}'")) == 0)
            {
                Assert.True(clock.Elapsed < Deadline, "slices on fresh consumers never wrote a heartbeat");
                await using var consumer = pipeline.NewSliceConsumer();
                var slice = await consumer.ConsumeSliceAsync(default);
                Assert.Equal(0, slice.Transactions);
            }
            Assert.Equal(0L, await rig.ScalarAsync<long>("SELECT count(*) FROM cdc_registry.segments"));
        }
        finally
        {
            await rig.ExecAsync($"SELECT pg_drop_replication_slot('{probe}')");
        }
    }

    private async Task<TimeSpan> RunAsync(string name, TimeSpan heartbeat)
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, name);
        var options = InProcessPipeline.DefaultOptions(rig.ConnectionString, Path.Combine(_root, name));
        options.Source.Slot = rig.Slot;
        options.Slice.HeartbeatInterval = heartbeat;
        await using var pipeline = await InProcessPipeline.StartAsync(options);

        // Published tables stay idle; only public.unpublished changes, in many transactions and some volume of WAL.
        for (var i = 0; i < 20; i++)
            await rig.ExecAsync($"INSERT INTO public.unpublished (v) SELECT 'idle {i} ' || g FROM generate_series(1, 2000) g");
        await rig.ExecAsync("UPDATE public.unpublished SET v = v || '!'; DELETE FROM public.unpublished WHERE id % 3 = 0");
        var target = await rig.CurrentWalLsnAsync();
        var clock = Stopwatch.StartNew();

        await rig.WaitConfirmedAsync(target, Deadline,
            () => $"last ingest error: {pipeline.Get<Core.Health.IngestProgress>().Snapshot().Error ?? "none"}");
        var elapsed = clock.Elapsed;

        // Nothing was staged for it: the unpublished table and the heartbeats (if any) are not data.
        Assert.Equal(0L, await rig.ScalarAsync<long>("SELECT count(*) FROM cdc_registry.segments"));
        output.WriteLine($"target {new NpgsqlLogSequenceNumber(target)}, slot at {new NpgsqlLogSequenceNumber(await rig.ConfirmedFlushLsnAsync())}");
        return elapsed;
    }
}
