using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// One long transaction open across 1 s slices: --rows rows inserted in 10 chunks one second apart, held open --hold
/// seconds more, then committed, while a writer commits one small row every 100 ms into another published table (so slices have work).
/// Contenders, each on a slot of its own created just before the transaction begins:
/// - per-slice reconnect: a new SliceConsumer (so a new replication session, a new walsender decoding again from the
///   slot's restart_lsn, which the open transaction holds back) for every slice, as the ConsumeSlice activity did;
/// - kept session: <see cref="SliceRun"/> on one consumer with the default activity budget, as the activity does now.
/// Measured: the CPU of every walsender that served the slot from the transaction's start until it was staged, and
/// the time to drain: from the commit until the slice that staged the transaction returned (staged, registered, acknowledged).
/// </summary>
public static class SliceBench
{
    private const string Publication = "slices_pub";
    private const string Big = "slices_big";
    private const string Small = "slices_small";
    private static readonly TimeSpan SliceDuration = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(5);

    private sealed record Result(string Contender, int Run, TimeSpan Drain, TimeSpan WalsenderCpu, int Walsenders, int Slices, long Changes,
        TimeSpan Total, bool Drained);

    public static async Task RunAsync(SliceSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        await BenchWorkload.CreateSchemaAsync(session.Db, Publication, [Big, Small], ct);
        var results = new List<Result>();
        for (var run = 1; run <= settings.Runs; run++)
            for (var k = 0; k < 2; k++)
            {
                var keep = (k == 0) == (run % 2 == 0);
                var r = await RunOnceAsync(session, settings, run, keep, ct);
                Log($"run {run}: {r.Contender,-20} drain {r.Drain.TotalSeconds,6:0.00} s{(r.Drained ? "" : " (not drained)")}  "
                    + $"walsender CPU {r.WalsenderCpu.TotalSeconds:0.00} s over {r.Walsenders} walsender(s), {r.Slices} slice(s)");
                results.Add(r);
            }

        static double Median(IEnumerable<double> xs)
        {
            var s = xs.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
        Console.WriteLine();
        Console.WriteLine($"one transaction of {settings.Rows:N0} rows in {settings.Chunks} chunks 1 s apart, held open {settings.Hold} s more, a small commit every 100 ms, "
            + $"slices of {SliceDuration.TotalSeconds:0} s; load average {session.LoadBefore:0.0} → {ProcStats.LoadAverage():0.0}, "
            + $"total bench time {session.Elapsed.TotalSeconds:0} s");
        Console.WriteLine();
        Console.WriteLine("| contender | run | time to drain | walsender CPU | walsenders | slices | changes staged | whole run |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
            Console.WriteLine($"| {r.Contender} | {r.Run} | {r.Drain.TotalSeconds:0.00} s{(r.Drained ? "" : " (not drained)")} | "
                + $"{r.WalsenderCpu.TotalSeconds:0.00} s | {r.Walsenders} | {r.Slices} | {r.Changes:N0} | {r.Total.TotalSeconds:0.0} s |");
        var reconnect = results.Where(r => !r.Contender.StartsWith("kept", StringComparison.Ordinal)).ToList();
        var kept = results.Where(r => r.Contender.StartsWith("kept", StringComparison.Ordinal)).ToList();
        Console.WriteLine();
        Console.WriteLine($"per-slice reconnect / kept session (medians): walsender CPU {Median(reconnect.Select(r => r.WalsenderCpu.TotalSeconds)) / Median(kept.Select(r => r.WalsenderCpu.TotalSeconds)):0.0}×, "
            + $"time to drain {Median(reconnect.Select(r => r.Drain.TotalSeconds)) / Median(kept.Select(r => r.Drain.TotalSeconds)):0.0}×");
    }

    private static async Task<Result> RunOnceAsync(BenchSession session, SliceSettings settings, int run, bool keep, CancellationToken ct)
    {
        var contender = keep ? "kept session" : "per-slice reconnect";
        var slot = $"slices_{(keep ? "kept" : "reconnect")}_{run}";
        await BenchWorkload.ExecuteAsync(session.Db, $"TRUNCATE {Big}, {Small}", ct);
        var options = new PgEgressOptions
        {
            Source = { ConnectionString = session.ConnectionString, Publication = Publication, Slot = slot },
            Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(session.WorkRoot, slot, "store") },
            WorkDirectory = Path.Combine(session.WorkRoot, slot, "spool"),
            Slice = { MaxDuration = SliceDuration },
            Reload = { InitialLoad = false },
        };
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        SinkBench.Settle();

        await using var cpu = WalsenderCpu.Start(session.Db, slot);
        var clock = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var target = 0L; // every change the run commits, known once the long transaction has committed
        var committedAt = TimeSpan.Zero;
        var drainedAt = TimeSpan.Zero;
        var slices = 0;
        var changes = 0L;
        void SliceDone(SliceResult s)
        {
            slices++;
            changes += s.Changes;
            var t = Volatile.Read(ref target);
            if (t != 0 && changes >= t && drainedAt == TimeSpan.Zero)
            {
                drainedAt = clock.Elapsed;
                stop.Cancel();
            }
        }

        var consume = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await using var consumer = ActivatorUtilities.CreateInstance<SliceConsumer>(services);
                try
                {
                    if (keep) await SliceRun.RunAsync(consumer, options.Slice, SliceDone, stop.Token);
                    else SliceDone(await consumer.ConsumeSliceAsync(stop.Token));
                }
                catch (Exception e) when (e is PipelineSetupException or PostgresException { SqlState: "55006" })
                {
                    // The walsender of the session just closed still holds the slot for a moment (the activity retried).
                    await Task.Delay(20, CancellationToken.None);
                }
            }
        }, CancellationToken.None);

        var small = await LongTransactionAsync(session.Db, settings, ct);
        committedAt = clock.Elapsed;
        var expected = settings.Rows + small;
        // A slice that returned between the commit and this write did not see it: the next slice (idle) checks again.
        Volatile.Write(ref target, expected);
        Log($"run {run}: {contender}: committed {settings.Rows:N0} rows at {committedAt.TotalSeconds:0.0} s after {small} small commits");
        var finished = await Task.WhenAny(consume, Task.Delay(DrainTimeout, ct));
        var drained = finished == consume;
        if (!drained)
        {
            await stop.CancelAsync();
            await consume;
        }
        else await consume;
        var total = clock.Elapsed;
        if (drained && changes != expected)
            throw new InvalidOperationException($"{contender}: staged {changes} changes; the run committed {expected}");
        await BenchWorkload.ExecuteAsync(session.Db, $"SELECT pg_drop_replication_slot('{slot}')", ct);
        return new Result(contender, run, (drained ? drainedAt : total) - committedAt, cpu.Total, cpu.Sessions, slices, changes, total, drained);
    }

    /// <summary>
    /// The long transaction, chunk by chunk one second apart and then held open, with a small commit every 100 ms meanwhile on another
    /// connection; the writer stops before the long transaction's commit. Returns the small commits' count.
    /// </summary>
    private static async Task<long> LongTransactionAsync(NpgsqlDataSource db, SliceSettings settings, CancellationToken ct)
    {
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var small = 0L;
        var writer = Task.Run(async () =>
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var insert = new NpgsqlCommand($"INSERT INTO {Small} {BenchWorkload.RowsSelect}", conn);
            insert.Parameters.Add(new() { Value = 0 });
            insert.Parameters.Add(new() { Value = 0 });
            var next = Stopwatch.GetTimestamp();
            while (!writing.IsCancellationRequested)
            {
                var id = (int)(small + 1);
                (insert.Parameters[0].Value, insert.Parameters[1].Value) = (id, id);
                await insert.ExecuteNonQueryAsync(CancellationToken.None);
                small++;
                next += Stopwatch.Frequency / 10;
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                try { if (wait > TimeSpan.Zero) await Task.Delay(wait, writing.Token); }
                catch (OperationCanceledException) { }
            }
        }, CancellationToken.None);

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var txn = await conn.BeginTransactionAsync(ct);
        var chunk = settings.Rows / settings.Chunks;
        var nextChunk = Stopwatch.GetTimestamp();
        for (var c = 0; c < settings.Chunks; c++)
        {
            var from = c * chunk + 1;
            var to = c == settings.Chunks - 1 ? settings.Rows : (c + 1) * chunk;
            await using (var cmd = new NpgsqlCommand($"INSERT INTO {Big} {BenchWorkload.RowsSelect}", conn, txn) { CommandTimeout = 0 })
            {
                cmd.Parameters.Add(new() { Value = checked((int)from) });
                cmd.Parameters.Add(new() { Value = checked((int)to) });
                await cmd.ExecuteNonQueryAsync(ct);
            }
            nextChunk += Stopwatch.Frequency;
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), nextChunk);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
        }
        await Task.Delay(TimeSpan.FromSeconds(settings.Hold), ct);
        // Stop the writer first, so the small commits are all before the long one: a drained slot has staged them all.
        await writing.CancelAsync();
        await writer;
        await txn.CommitAsync(ct);
        return small;
    }
}
