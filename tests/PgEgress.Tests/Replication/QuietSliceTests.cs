using System.Diagnostics;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Replication;

/// <summary>
/// Slice:QuietAfterCommit: once a slice has staged a transaction, a quiet stream ends it, so under light load a commit is
/// staged (and reaches the sinks) in tens of milliseconds rather than at the slice's time bound; a busy stream keeps the
/// slice going, so segments stay large under load, up to Slice:MaxLatency after its first transaction.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class QuietSliceTests(PostgresFixture pg, ITestOutputHelper output)
{
    private static readonly TimeSpan LongSlice = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_lone_commit_ends_its_slice_once_the_stream_is_quiet_not_at_the_time_bound()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "quiet_lone");
        await using var pipeline = await StartAsync(rig, TimeSpan.FromMilliseconds(50));
        await using var consumer = pipeline.NewSliceConsumer();
        var slice = consumer.ConsumeSliceAsync(default);
        await rig.ExecAsync("INSERT INTO app.accounts VALUES (1, 'lone', 1)");
        var committed = Stopwatch.StartNew();
        var result = await slice;
        output.WriteLine($"slice of {result.Transactions} transaction(s) ended {committed.ElapsedMilliseconds} ms after the commit returned");

        Assert.Equal(1, result.Transactions);
        Assert.True(committed.Elapsed < TimeSpan.FromSeconds(5), $"the slice ended {committed.Elapsed} after the commit (bound {LongSlice})");
    }

    [Fact]
    public async Task With_it_off_the_slice_waits_for_its_time_bound()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "quiet_off");
        await using var pipeline = await StartAsync(rig, TimeSpan.Zero, slice: TimeSpan.FromSeconds(3));
        await using var consumer = pipeline.NewSliceConsumer();
        var clock = Stopwatch.StartNew();
        var slice = consumer.ConsumeSliceAsync(default);
        await rig.ExecAsync("INSERT INTO app.accounts VALUES (1, 'lone', 1)");
        var result = await slice;

        Assert.Equal(1, result.Transactions);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(3), $"the slice ended after {clock.Elapsed}, before its 3 s bound");
    }

    [Fact]
    public async Task A_busy_stream_keeps_the_slice_going_past_the_quiet_time()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "quiet_busy");
        // A quiet time well above the gap between the writer's commits, so only a slow machine could end the slice early.
        await using var pipeline = await StartAsync(rig, TimeSpan.FromMilliseconds(500), slice: TimeSpan.FromSeconds(2), latency: TimeSpan.FromSeconds(2));
        var (result, elapsed) = await SliceUnderSteadyWriterAsync(rig, pipeline);

        Assert.True(elapsed >= TimeSpan.FromSeconds(2), $"the busy slice ended after {elapsed}, before its 2 s bound");
        Assert.True(result.Transactions > 10, $"only {result.Transactions} transaction(s) in a 2 s slice with a commit every 20 ms");
    }

    [Fact]
    public async Task A_steady_stream_is_staged_once_the_first_transaction_has_waited_MaxLatency()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "quiet_latency");
        await using var pipeline = await StartAsync(rig, TimeSpan.FromMilliseconds(500), latency: TimeSpan.FromSeconds(1));
        var (result, elapsed) = await SliceUnderSteadyWriterAsync(rig, pipeline);

        // The slice began before the first commit, so it lasts MaxLatency plus that wait; far below its 20 s bound.
        Assert.True(elapsed >= TimeSpan.FromSeconds(1) && elapsed < TimeSpan.FromSeconds(8), $"the steady slice ended after {elapsed} (MaxLatency 1 s, bound {LongSlice})");
        Assert.True(result.Transactions > 10, $"only {result.Transactions} transaction(s) with a commit every 20 ms");
    }

    /// <summary>One slice while a writer commits a row every 20 ms (never quiet for the tests' quiet times).</summary>
    private async Task<(PgEgress.Core.Replication.SliceResult Result, TimeSpan Elapsed)> SliceUnderSteadyWriterAsync(DurabilityRig rig, InProcessPipeline pipeline)
    {
        await using var consumer = pipeline.NewSliceConsumer();
        using var stop = new CancellationTokenSource();
        var writes = 0;
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await rig.ExecAsync($"INSERT INTO app.accounts VALUES ({i}, 'busy', {i})");
                Interlocked.Increment(ref writes);
                await Task.Delay(20);
            }
        });
        var clock = Stopwatch.StartNew();
        var result = await consumer.ConsumeSliceAsync(default);
        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        await writer;
        output.WriteLine($"slice of {result.Transactions} transaction(s) in {elapsed.TotalMilliseconds:0} ms; {writes} commits written");
        return (result, elapsed);
    }

    private static async Task<InProcessPipeline> StartAsync(DurabilityRig rig, TimeSpan quiet, TimeSpan? slice = null, TimeSpan? latency = null)
    {
        var options = InProcessPipeline.DefaultOptions(rig.ConnectionString, rig.Output);
        options.Source.Slot = rig.Slot;
        options.Slice.MaxDuration = slice ?? LongSlice;
        options.Slice.QuietAfterCommit = quiet;
        options.Slice.MaxLatency = latency ?? LongSlice;
        return await InProcessPipeline.StartAsync(options, ingest: false);
    }
}
