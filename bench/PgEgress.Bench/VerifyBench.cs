using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Domain;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Verification;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// The verify benchmark: one throwaway cluster, one table of BenchWorkload's column mix, exported by PgEgress's initial
/// load and then changed through the stream (so the files are a reload plus streaming files); then, alternating, a
/// verification of it (TableVerifier: snapshot, flush to C, file replay, bucket hashes on both sides) and the plain
/// whole-table hash <c>SELECT md5(string_agg(t::text, '' ORDER BY id))</c>, which checks nothing against the files but
/// is the least a comparison must read. Medians and PgEgress's peak RSS reported.
/// </summary>
public static class VerifyBench
{
    public static async Task RunAsync(VerifySettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        var db = session.Db;
        await BenchWorkload.CreateSchemaAsync(db, ct);
        Log($"loading {settings.Rows:N0} rows into {BenchWorkload.Table}");
        await BenchWorkload.LoadAsync(db, BenchWorkload.Table, settings.Rows, 1, ct);
        await BenchWorkload.ExecuteAsync(db, "VACUUM (FREEZE, ANALYZE); CHECKPOINT", ct);
        var size = await BenchWorkload.ScalarAsync<long>(db, $"SELECT pg_relation_size('{BenchWorkload.Table}')", ct);

        var options = new PgEgressOptions
        {
            Source = { ConnectionString = session.ConnectionString, Publication = BenchWorkload.Publication, Slot = "bench_verify" },
            Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(session.WorkRoot, "store") },
            WorkDirectory = Path.Combine(session.WorkRoot, "work"),
            Slice = { MaxDuration = TimeSpan.FromSeconds(1) },
        };
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        using var stop = new CancellationTokenSource();
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        var ingest = Task.Run(() => services.GetRequiredService<IngestLoop>().RunAsync(stop.Token), ct);
        var reloads = Task.Run(() => services.GetRequiredService<ReloadLoop>().RunAsync(stop.Token), ct);
        var operations = services.GetRequiredService<OperationStore>();
        Log("initial load");
        while (!(await operations.GetRecentAsync(options.Source.Slot, 10, ct) is { Count: > 0 } ops && ops.All(o => o.Finished)))
            await Task.Delay(500, ct);
        await BenchWorkload.ExecuteAsync(db, $"""
            UPDATE {BenchWorkload.Table} SET note = 'changed' WHERE id % 1000 = 0;
            DELETE FROM {BenchWorkload.Table} WHERE id % 5000 = 1;
            """, ct);

        var store = services.GetRequiredService<VerificationStore>();
        var runner = services.GetRequiredService<VerificationRunner>();
        var table = new TableName("public", BenchWorkload.Table);
        var verify = new List<(TimeSpan Time, long Rss, VerificationRecord Result)>();
        var plain = new List<TimeSpan>();
        for (var run = 1; run <= settings.Runs; run++)
        {
            for (var k = 0; k < 2; k++)
            {
                if ((k == 0) == (run % 2 == 1))
                {
                    var clock = Stopwatch.StartNew();
                    var hash = await BenchWorkload.ScalarAsync<string>(db, $"SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM {BenchWorkload.Table} t", ct);
                    plain.Add(clock.Elapsed);
                    Log($"run {run}: md5(string_agg) {clock.Elapsed.TotalSeconds,6:0.00} s ({hash[..8]})");
                }
                else
                {
                    var request = await store.RequestAsync(options.Source.Slot, table, "api", false, ct);
                    GC.Collect();
                    ProcStats.ResetPeakRss();
                    var clock = Stopwatch.StartNew();
                    await runner.RunNextAsync(ct);
                    clock.Stop();
                    var rss = ProcStats.PeakRss();
                    var done = (await store.GetAsync(options.Source.Slot, request.Id, ct))!;
                    if (done.State != VerificationRecord.Completed || done.MissingInFiles + done.OnlyInFiles + done.Different != 0)
                        throw new InvalidOperationException($"verification {done.Id}: {done.State} {done.Error} missing={done.MissingInFiles} extra={done.OnlyInFiles} different={done.Different}");
                    verify.Add((clock.Elapsed, rss, done));
                    Log($"run {run}: verify          {clock.Elapsed.TotalSeconds,6:0.00} s  rows {done.RowsScanned:N0} (files {done.FileRows:N0})  buckets {done.BucketsCompared}  peak RSS {rss / 1e6:0.0} MB");
                }
            }
        }
        await stop.CancelAsync();
        await ingest;
        await reloads;

        static double Median(IEnumerable<double> xs) => xs.Order().ElementAt(xs.Count() / 2);
        var v = Median(verify.Select(r => r.Time.TotalSeconds));
        var p = Median(plain.Select(t => t.TotalSeconds));
        Console.WriteLine();
        Console.WriteLine($"Verify: {settings.Rows:N0} rows ({size / 1e6:0.0} MB on disk), files = initial load + streaming changes; {Environment.ProcessorCount} cores; median of {settings.Runs} run(s) each, alternating");
        Console.WriteLine();
        Console.WriteLine("| contender | median s | rows/s | peak RSS MB | runs (s) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | --- |");
        Console.WriteLine($"| md5(string_agg(t::text, '' ORDER BY id)) | {p:0.00} | {settings.Rows / p:N0} | | {string.Join(", ", plain.Select(t => t.TotalSeconds.ToString("0.00")))} |");
        Console.WriteLine($"| PgEgress verify | {v:0.00} | {settings.Rows / v:N0} | {verify.Max(r => r.Rss) / 1e6:0.0} | {string.Join(", ", verify.Select(r => r.Time.TotalSeconds.ToString("0.00")))} |");
        Console.WriteLine($"verify / md5: {v / p:0.00}x; total {session.Elapsed.TotalSeconds:0} s");
    }
}
