using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks;
using PgEgress.Core.Storage;
using Microsoft.Extensions.Logging;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// One transaction bigger than a slice can deliver, to a receiver that takes 60 ms a request: slice after slice
/// (and a new runner after a shutdown) goes on where the last one stopped inside the transaction, so it completes at
/// the receiver's speed and nothing the receiver acknowledged is sent again.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LargeTransactionSinkTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private const int Inserts = 3_000;
    private const int Updates = 1_000;
    private const int Truncate = Inserts + Updates + 1;
    private const int Reinserts = 999;
    private const int Events = Truncate + Reinserts;
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(60);
    private static readonly TimeSpan Slice = TimeSpan.FromSeconds(1);

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-bigtxn-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_transaction_larger_than_a_slice_completes_in_bounded_slices_without_resending_acknowledged_events()
    {
        await using var receiver = await SlowReceiver.StartAsync(Latency);
        var (pipeline, target) = await StageOneBigTransactionAsync("sink_bigtxn", receiver);
        await using var _ = pipeline;
        var runner = pipeline.Get<SinkRunners>().For("slow")!;

        // At 8 workers x 2 events per 60 ms the transaction takes ~19 s of delivery: about 20 one-second slices (60 leaves room for a busy machine).
        var slices = await DeliverAsync(runner, pipeline, target, maxSlices: 60);

        output.WriteLine($"{slices} slice(s), {receiver.Requests} request(s), {receiver.AckedCount} acknowledged event(s)");
        AssertDeliveredOnceInOrder(receiver);
    }

    [Fact]
    public async Task A_new_runner_after_a_shutdown_mid_transaction_resumes_without_resending_acknowledged_events()
    {
        await using var receiver = await SlowReceiver.StartAsync(Latency);
        var (pipeline, target) = await StageOneBigTransactionAsync("sink_bigtxn_restart", receiver);
        await using var _ = pipeline;
        var metrics = pipeline.Get<SinkMetrics>().For("slow");

        // The first runner delivers until the receiver stops acknowledging, then the process shuts down: every
        // acknowledged answer has reached the sink (its delivered count says so) before the stop.
        receiver.HoldAfter(1_500);
        using var shutdown = new CancellationTokenSource();
        var first = pipeline.Get<SinkRunners>().For("slow")!.RunSliceAsync(TimeSpan.FromMinutes(2), shutdown.Token);
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!receiver.Holding || metrics.Delivered != receiver.AckedCount)
        {
            Assert.True(DateTime.UtcNow < deadline, $"held: {receiver.Holding}, delivered {metrics.Delivered}, acknowledged {receiver.AckedCount}");
            Assert.False(first.IsCompleted, "the first slice ended before the shutdown");
            await Task.Delay(20);
        }
        await shutdown.CancelAsync();
        var stopped = await first;
        Assert.True(stopped.CursorLsn < target, "the first runner should have stopped inside the transaction");
        Assert.InRange(receiver.AckedCount, 1_400, 1_500);

        receiver.Release();
        await using var restarted = new SinkRunners(pipeline.Options, pipeline.Source, pipeline.Get<IObjectStore>(), pipeline.Get<RegistryStore>(),
            pipeline.Get<StagedLog>(), pipeline.Get<SinkMetrics>(), TimeProvider.System, pipeline.Get<ILoggerFactory>());
        await DeliverAsync(restarted.For("slow")!, pipeline, target, maxSlices: 60);

        AssertDeliveredOnceInOrder(receiver);
    }

    /// <summary>
    /// One transaction, staged: 3,000 inserts, 1,000 updates of the first rows, a TRUNCATE (seq 4001, a barrier across
    /// the workers) and 999 inserts again; returns its end (the staged LSN).
    /// </summary>
    private async Task<(InProcessPipeline Pipeline, ulong Target)> StageOneBigTransactionAsync(string database, SlowReceiver receiver)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, n int NOT NULL)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, database));
        options.Sinks["slow"] = new SinkOptions
        {
            Kind = SinkKind.Http, Url = receiver.Url + "/events", Workers = 8, BatchMaxEvents = 2,
            Timeout = TimeSpan.FromSeconds(2), RetryDelay = TimeSpan.FromMilliseconds(20), MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        };
        var pipeline = await InProcessPipeline.StartAsync(options);
        await using (var conn = await db.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using (var insert = new NpgsqlCommand($"INSERT INTO app.items SELECT g, 0 FROM generate_series(1, {Inserts}) g", conn, tx))
                await insert.ExecuteNonQueryAsync();
            await using (var update = new NpgsqlCommand($"UPDATE app.items SET n = 1 WHERE id <= {Updates}", conn, tx))
                await update.ExecuteNonQueryAsync();
            await using (var truncate = new NpgsqlCommand("TRUNCATE app.items", conn, tx))
                await truncate.ExecuteNonQueryAsync();
            await using (var again = new NpgsqlCommand($"INSERT INTO app.items SELECT g, 2 FROM generate_series(1, {Reinserts}) g", conn, tx))
                await again.ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }
        await pipeline.FlushAsync();
        var target = await pipeline.Get<RegistryStore>().GetStagedLsnAsync(options.Source.Slot, default);
        return (pipeline, target);
    }

    /// <summary>Slices of one second until the sink's cursor is at <paramref name="target"/>; fails past the bound.</summary>
    private async Task<int> DeliverAsync(ISinkRunner runner, InProcessPipeline pipeline, ulong target, int maxSlices)
    {
        var registry = pipeline.Get<RegistryStore>();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        for (var slice = 1; ; slice++)
        {
            var result = await runner.RunSliceAsync(Slice, default);
            var cursor = (await registry.GetCursorAsync(pipeline.Options.Source.Slot, SinkRunners.Consumer("slow"), default))!.Lsn;
            Assert.Equal(result.CursorLsn, cursor);
            if (cursor >= target) return slice;
            Assert.True(slice < maxSlices && DateTime.UtcNow < deadline,
                $"after {slice} slice(s) the cursor is still before the transaction's end");
        }
    }

    private static void AssertDeliveredOnceInOrder(SlowReceiver receiver)
    {
        Assert.Empty(receiver.Duplicates);
        var acked = receiver.Acked;
        Assert.Equal(Events, acked.Count);
        // One transaction: one LSN, seq 1..5000.
        Assert.Single(acked.Select(a => a.Id[..a.Id.LastIndexOf('-')]).Distinct());
        Assert.Equal(Enumerable.Range(1, Events), acked.Select(a => a.Seq).Order());
        // Each row's changes in commit order, across slices and workers.
        foreach (var row in acked.Where(a => a.Key != 0).GroupBy(a => a.Key))
            Assert.True(row.Select(a => a.Seq).SequenceEqual(row.Select(a => a.Seq).Order()), $"row {row.Key} out of order");
        // The TRUNCATE after every earlier event and before every later one.
        var barrier = acked.ToList().FindIndex(a => a.Op == "truncate");
        Assert.Equal(Truncate, acked[barrier].Seq);
        Assert.All(acked.Take(barrier), a => Assert.True(a.Seq < Truncate, $"{a.Id}, after the TRUNCATE in the transaction, arrived before it"));
        Assert.All(acked.Skip(barrier + 1), a => Assert.True(a.Seq > Truncate, $"{a.Id}, before the TRUNCATE in the transaction, arrived after it"));
    }
}
