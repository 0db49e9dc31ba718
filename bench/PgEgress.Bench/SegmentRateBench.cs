using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;
using PgEgress.Testing;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// What the low-latency slice bounds cost: with the default slice bounds (QuietAfterCommit 50 ms, MaxLatency 1 s), a
/// writer commits at 100, 1,000 and 10,000 changes/s while ingest runs slice after slice into the folder store and into
/// Azurite; counted are the segments (each one object and one registry row) per minute, the transactions per segment, and
/// commit → staged. The baseline is the same run with the earlier bounds (neither: slices end at their 10 s bound).
/// </summary>
public static class SegmentRateBench
{
    private const string Table = "rate";

    public static async Task RunAsync(SegmentRateSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        await BenchWorkload.CreateSchemaAsync(session.Db, BenchWorkload.Publication, [Table], ct);
        await using var azurite = await AzuriteServer.StartAsync(ct);
        var rows = new List<string>();
        var scenario = 0;
        foreach (var kind in new[] { StorageKind.FileSystem, StorageKind.AzureBlob })
        foreach (var rate in settings.Rates)
        foreach (var (quiet, latency) in new[] { (new SliceOptions().QuietAfterCommit, new SliceOptions().MaxLatency), (TimeSpan.Zero, new SliceOptions().MaxDuration) })
        {
            var slot = $"rate_{++scenario}";
            var options = new PgEgressOptions
            {
                Source = { ConnectionString = session.ConnectionString, Publication = BenchWorkload.Publication, Slot = slot },
                Storage = kind == StorageKind.FileSystem
                    ? new StorageOptions { Kind = kind, Path = Path.Combine(session.WorkRoot, "store-" + slot) }
                    : new StorageOptions { Kind = kind, ConnectionString = azurite.ConnectionString, Container = slot.Replace('_', '-') },
                Slice = { QuietAfterCommit = quiet, MaxLatency = latency },
                WorkDirectory = Path.Combine(session.WorkRoot, "spool-" + slot),
            };
            var r = await RunOneAsync(options, session.Db, rate, settings.Seconds, ct);
            var line = $"| {(kind == StorageKind.FileSystem ? "folder" : "Azurite")} | {rate:N0} | {quiet.TotalMilliseconds:0} ms, {latency.TotalSeconds:0} s | {r.Achieved:N0} "
                       + $"| {r.Segments * 60.0 / settings.Seconds:N0} | {r.TransactionsPerSegment:0.0} | {r.StagedP50.TotalMilliseconds:0} | {r.StagedP99.TotalMilliseconds:0} |";
            Log(line);
            rows.Add(line);
        }

        Console.WriteLine();
        Console.WriteLine($"Segments with default slices (MaxDuration 10 s), {settings.Seconds} s per scenario; 1 row per transaction below 10,000 changes/s, 10 at 10,000");
        Console.WriteLine();
        Console.WriteLine("| store | changes/s asked | QuietAfterCommit, MaxLatency | changes/s achieved | segments (= registry rows) per minute | transactions per segment | commit → staged p50 ms | p99 ms |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var line in rows) Console.WriteLine(line);
        Console.WriteLine($"Total bench time {session.Elapsed.TotalSeconds:0} s; load average before {session.LoadBefore:0.00}, after {ProcStats.LoadAverage():0.00}");
    }

    private sealed record Outcome(double Achieved, int Segments, double TransactionsPerSegment, TimeSpan StagedP50, TimeSpan StagedP99);

    private static async Task<Outcome> RunOneAsync(PgEgressOptions options, NpgsqlDataSource db, int rate, int seconds, CancellationToken ct)
    {
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        var consumer = services.GetRequiredService<SliceConsumer>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var slices = new List<(SliceResult Slice, DateTime Returned)>();
        var ingest = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var slice = await consumer.ConsumeSliceAsync(stop.Token);
                lock (slices) slices.Add((slice, DateTime.UtcNow));
            }
        }, CancellationToken.None);

        // The writer commits on a Stopwatch schedule; each commit's time is kept to match it with the slice that staged it.
        var rowsPerTxn = rate >= 10_000 ? 10 : 1;
        var interval = TimeSpan.FromSeconds((double)rowsPerTxn / rate);
        var txns = (int)(seconds / interval.TotalSeconds);
        var commits = new List<(DateTime At, ulong Lsn)>(txns);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var insert = new NpgsqlCommand($"INSERT INTO {Table} {BenchWorkload.RowsSelect} RETURNING pg_current_wal_insert_lsn()", conn);
        insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 0 });
        insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 0 });
        await insert.PrepareAsync(ct);
        var first = await NextKeyAsync(db, ct);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < txns; i++)
        {
            var wait = interval * i - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait, ct);
            ((NpgsqlParameter<int>)insert.Parameters[0]).TypedValue = first + i * rowsPerTxn;
            ((NpgsqlParameter<int>)insert.Parameters[1]).TypedValue = first + (i + 1) * rowsPerTxn - 1;
            var lsn = (ulong)(NpgsqlTypes.NpgsqlLogSequenceNumber)(await insert.ExecuteScalarAsync(ct))!;
            commits.Add((DateTime.UtcNow, lsn));
        }
        var written = clock.Elapsed;
        var last = commits[^1].Lsn;
        while (true)
        {
            lock (slices) if (slices.Count > 0 && slices[^1].Slice.EndLsn >= last) break;
            if (ingest.IsFaulted) await ingest;
            if (clock.Elapsed > written + TimeSpan.FromMinutes(1)) throw new TimeoutException("ingest did not stage the writer's last commit within a minute");
            await Task.Delay(10, ct);
        }
        await stop.CancelAsync();
        await ingest;
        await consumer.DisposeAsync();

        var staged = slices.Where(s => s.Slice.Transactions > 0).ToList();
        // A commit is staged by the first slice whose end LSN is at or past it; its delay is that slice's return minus the commit.
        var delays = new List<TimeSpan>(commits.Count);
        var k = 0;
        foreach (var (at, lsn) in commits)
        {
            while (k < staged.Count && staged[k].Slice.EndLsn < lsn) k++;
            if (k < staged.Count) delays.Add(staged[k].Returned - at);
        }
        delays.Sort();
        return new Outcome(commits.Count * rowsPerTxn / written.TotalSeconds, staged.Count,
            staged.Average(s => s.Slice.Transactions), delays[delays.Count / 2], delays[(int)(delays.Count * 0.99)]);
    }

    private static async Task<int> NextKeyAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT coalesce(max(id), 0)::int + 1 FROM {Table}");
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
