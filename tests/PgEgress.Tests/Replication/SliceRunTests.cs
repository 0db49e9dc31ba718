using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Replication;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Replication;

/// <summary>
/// A ConsumeSlice activity runs slices on one replication session (so the walsender does not re-decode from the slot's
/// restart_lsn at every slice), each staged, registered and acknowledged on its own, until its budget is spent, a
/// slice is idle, or it is stopped.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SliceRunTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(500);
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-slicerun-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_run_keeps_one_session_for_slice_after_slice_each_registered_and_acknowledged_until_its_budget()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "slicerun_budget");
        // Slices of their full 0.5 s (not ended by a quiet stream between the writer's commits), as the test counts them.
        await using var pipeline = await StartAsync(rig, TimeSpan.FromSeconds(3), quiet: TimeSpan.Zero);
        await using var writer = Writer.Start(rig);

        // Seen from the server while each slice's summary is handed over: who serves the slot, how far it is confirmed.
        var seen = new List<(SliceResult Slice, int? Pid, ulong Confirmed)>();
        await using var consumer = pipeline.NewSliceConsumer();
        var run = await SliceRun.RunAsync(consumer, pipeline.Options.Slice, s => seen.Add((s, ActivePid(rig), ConfirmedAtLeast(rig, s.AcknowledgedLsn))), default);
        output.WriteLine($"{run.Slices} slice(s) in {run.Duration.TotalSeconds:0.0} s, walsender pids: {string.Join(", ", seen.Select(s => s.Pid))}");

        Assert.True(run.Slices >= 3, $"only {run.Slices} slice(s) in a 3 s budget of 0.5 s slices with commits every 100 ms");
        Assert.False(run.Idle);
        Assert.True(run.Duration < TimeSpan.FromSeconds(3) + Slice, $"the run took {run.Duration} for a 3 s budget");
        Assert.True(writer.Commits > 0 && seen.All(s => s.Pid == seen[0].Pid && s.Pid is not null),
            $"the slot was served by walsender(s) {string.Join(", ", seen.Select(s => s.Pid?.ToString() ?? "none"))}: the run reconnected");
        for (var i = 1; i < seen.Count; i++)
            Assert.True(seen[i].Slice.AcknowledgedLsn > seen[i - 1].Slice.AcknowledgedLsn && seen[i].Slice.StartLsn == seen[i - 1].Slice.EndLsn,
                $"slice {i} acknowledged {Lsn(seen[i].Slice.AcknowledgedLsn)} after {Lsn(seen[i - 1].Slice.AcknowledgedLsn)}, from {Lsn(seen[i].Slice.StartLsn)}");
        Assert.Equal(seen.Select(s => s.Slice.Segment), (await rig.RegisteredSegmentsAsync()).Select(s => (string?)s.Path));
        Assert.Equal(seen.Sum(s => s.Slice.Transactions), run.Transactions);
        Assert.Equal(seen[0].Slice.StartLsn, run.StartLsn);
        Assert.Equal(seen[^1].Slice.EndLsn, run.EndLsn);
    }

    [Fact]
    public async Task A_run_ends_on_an_idle_slice()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "slicerun_idle");
        await using var pipeline = await StartAsync(rig, TimeSpan.FromMinutes(4));
        for (var i = 0; i < 5; i++) await rig.ExecAsync($"INSERT INTO app.accounts VALUES ({i}, 'idle run', 1)");

        await using var consumer = pipeline.NewSliceConsumer();
        var run = await SliceRun.RunAsync(consumer, pipeline.Options.Slice, _ => { }, default);

        Assert.True(run.Idle, $"the run ended on a slice that staged {run.LastSlice.Transactions} transaction(s)");
        Assert.True(run.Duration < TimeSpan.FromSeconds(20), $"an idle run took {run.Duration} (budget 4 min)");
        Assert.Equal(5, run.Transactions);
        Assert.Equal(run.Slices - 1, (await rig.RegisteredSegmentsAsync()).Count);
    }

    /// <summary>
    /// A new session decodes again from the slot's restart_lsn, which an open transaction holds back: its first slices
    /// receive nothing while the walsender reads through that transaction. Ending the run there (as on a quiet source)
    /// would make every activity start that reading again and never get past it.
    /// </summary>
    [Fact]
    public async Task A_run_goes_on_past_empty_slices_while_its_new_session_decodes_a_long_open_transaction()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "slicerun_behind");
        await using var pipeline = await StartAsync(rig, TimeSpan.FromMinutes(1), slice: TimeSpan.FromMilliseconds(100));
        await using var open = await rig.Db.OpenConnectionAsync();
        await using var txn = await open.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("INSERT INTO app.log_nopk (msg) SELECT 'open ' || g FROM generate_series(1, 300000) g", open, txn))
        {
            insert.CommandTimeout = 600;
            await insert.ExecuteNonQueryAsync();
        }
        await rig.ExecAsync("INSERT INTO app.accounts VALUES (1, 'after the open transaction', 1)");

        var seen = new List<SliceResult>();
        await using var consumer = pipeline.NewSliceConsumer();
        var run = await SliceRun.RunAsync(consumer, pipeline.Options.Slice, seen.Add, default);
        output.WriteLine($"{run.Slices} slice(s) in {run.Duration.TotalSeconds:0.0} s, {seen.Count(s => s.Behind)} of them with the server still decoding");

        Assert.True(seen[0].Idle && seen[0].Behind, "the first slice already had the commit: the open transaction was decoded within 100 ms, so this test shows nothing");
        Assert.Equal(1, run.Transactions);
        Assert.True(run.Idle, "the run did not end on a quiet slice once the commit was staged");
        await txn.RollbackAsync();
    }

    [Fact]
    public async Task Stopping_a_run_ends_its_slice_at_once_with_what_committed_staged_and_acknowledged()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "slicerun_stop");
        // Only the stop may end the slice, not a quiet stream between the writer's commits.
        await using var pipeline = await StartAsync(rig, TimeSpan.FromMinutes(4), slice: TimeSpan.FromSeconds(10), quiet: TimeSpan.Zero);
        await using var writer = Writer.Start(rig);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await using var consumer = pipeline.NewSliceConsumer();
        var run = await SliceRun.RunAsync(consumer, pipeline.Options.Slice, _ => { }, stop.Token);
        output.WriteLine($"stopped after {run.Slices} slice(s) of {run.Duration.TotalSeconds:0.0} s, {run.Transactions} transaction(s)");

        Assert.True(run.Slices == 1 && run.Duration < TimeSpan.FromSeconds(5), $"stopped at 1 s, the run went on for {run.Slices} slice(s), {run.Duration} (slices of 10 s)");
        Assert.True(run.Transactions > 0, "nothing committed in the first second was staged");
        var segments = await rig.RegisteredSegmentsAsync();
        Assert.Equal([run.LastSlice.Segment], segments.Select(s => (string?)s.Path));
        Assert.Equal(run.Changes, segments.Sum(s => s.Rows));
        ConfirmedAtLeast(rig, run.EndLsn);
    }

    private static async Task<InProcessPipeline> StartAsync(DurabilityRig rig, TimeSpan budget, TimeSpan? slice = null, TimeSpan? quiet = null)
    {
        var options = InProcessPipeline.DefaultOptions(rig.ConnectionString, rig.Output);
        options.Source.Slot = rig.Slot;
        options.Slice.MaxDuration = slice ?? Slice;
        if (quiet is { } q) options.Slice.QuietAfterCommit = q;
        options.Slice.ActivityBudget = budget;
        return await InProcessPipeline.StartAsync(options, ingest: false);
    }
    private static int? ActivePid(DurabilityRig rig)
    {
        using var cmd = rig.Db.CreateCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = rig.Slot });
        return cmd.ExecuteScalar() as int?;
    }

    /// <summary>Waits (the server applies standby feedback on its own time) until the slot is confirmed at <paramref name="lsn"/>.</summary>
    private static ulong ConfirmedAtLeast(DurabilityRig rig, ulong lsn)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var cmd = rig.Db.CreateCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1");
            cmd.Parameters.Add(new NpgsqlParameter { Value = rig.Slot });
            var confirmed = cmd.ExecuteScalar() is NpgsqlLogSequenceNumber l ? (ulong)l : 0;
            if (confirmed >= lsn) return confirmed;
            Assert.True(clock.Elapsed < Deadline, $"slot {rig.Slot} stayed confirmed at {Lsn(confirmed)}, short of the acknowledged {Lsn(lsn)}");
            Thread.Sleep(20);
        }
    }

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();

    /// <summary>A row committed every 100 ms into a published table, until disposed.</summary>
    private sealed class Writer : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _task = Task.CompletedTask;
        private int _commits;

        public int Commits => Volatile.Read(ref _commits);

        public static Writer Start(DurabilityRig rig)
        {
            var w = new Writer();
            w._task = Task.Run(async () =>
            {
                for (var i = 0; !w._stop.IsCancellationRequested; i++)
                {
                    await rig.ExecAsync($"INSERT INTO app.accounts VALUES ({100_000 + i}, 'writer', {i})");
                    Interlocked.Increment(ref w._commits);
                    try { await Task.Delay(100, w._stop.Token); }
                    catch (OperationCanceledException) { }
                }
            });
            return w;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _task;
        }
    }
}
