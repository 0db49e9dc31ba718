using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Registry;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// A sink behind on one large transaction: --events rows inserted in a single transaction, staged, then delivered to a
/// receiver that takes 60 ms per request, K = 8 workers, one event per request (the Http default, and Hook0's only
/// mode). PgEgress runs slice after slice with the Host's budget (SinkLoop.SliceBudget) until its cursor is past the
/// transaction; the raw HttpClient loop posts the same bodies with 8 senders to the same receiver. Reported per
/// contender: time, requests, distinct events, repeats (events received again), and PgEgress's slices.
/// </summary>
public static class SinkTransactionBench
{
    private const string Slot = "egress_sink_txn";
    private const string Publication = "sink_txn_pub";
    private const string Table = "sink_txn";
    private const int Workers = 8;
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(60);

    private static string SinkName(int run) => $"txn_r{run}";

    public static async Task RunAsync(SinkTransactionSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        await BenchWorkload.CreateSchemaAsync(session.Db, Publication, [Table], ct);
        await using var receiver = SinkReceiver.Start(Latency);
        var options = new PgEgressOptions
        {
            Source = { ConnectionString = session.ConnectionString, Publication = Publication, Slot = Slot },
            Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(session.WorkRoot, "store") },
            WorkDirectory = Path.Combine(session.WorkRoot, "spool"),
            Slice = { MaxDuration = TimeSpan.FromSeconds(1) },
            Reload = { InitialLoad = false },
        };
        for (var run = 1; run <= settings.Runs; run++)
            options.Sinks[SinkName(run)] = new SinkOptions { Kind = SinkKind.Http, Url = receiver.Url + "/events", Workers = Workers };
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        var runners = services.GetRequiredService<SinkRunners>();
        var registry = services.GetRequiredService<RegistryStore>();

        Log($"loading {settings.Events:N0} rows into {Table} in one transaction");
        var load = await BenchWorkload.LoadAsync(session.Db, Table, settings.Events, 1, ct);
        await PgEgressMessages.EmitAsync(session.Db, PgEgressMessages.Flush, ct);
        var (stageTime, _, _, staged) = await SinkBench.StageAsync(services.GetRequiredService<SliceConsumer>(), load.EndLsn, ct);
        if (staged != settings.Events) throw new InvalidOperationException($"PgEgress staged {staged} changes; the load made {settings.Events}");
        Log($"staged in {stageTime.TotalSeconds:0.0} s; receiver latency {Latency.TotalMilliseconds:0} ms, K = {Workers}, one event per request");

        var endpoint = new CloudEventsEndpoint(Slot, options.Sinks[SinkName(1)], TimeProvider.System);
        var bodies = new List<byte[]>();
        await services.GetRequiredService<StagedLog>().ReadAsync(Slot, 0, async (_, events) =>
        {
            foreach (var e in events)
            {
                using var request = endpoint.Build([e]);
                bodies.Add(await request.Content!.ReadAsByteArrayAsync(ct));
            }
            return true;
        }, ct);

        // Time at the receiver's speed, with room for the staged log's read and the slices' drains; PgEgress before the
        // fix never finished (each slice began again at the transaction's first event), so the bound ends that run.
        var timeout = settings.Events * Latency / Workers * 2 + TimeSpan.FromMinutes(2);
        var rows = new List<string>();
        for (var run = 1; run <= settings.Runs; run++)
            for (var k = 0; k < 2; k++)
            {
                var baseline = (k == 0) == (run % 2 == 1);
                string row;
                if (baseline)
                {
                    var r = await SinkBaseline.RunAsync(run, receiver, bodies, 1, Workers, settings.Events, ct);
                    row = $"| {r.Contender} | {run} | {r.Elapsed.TotalSeconds:0.0} s | {r.EventsPerSecond:N0} | {r.Requests:N0} | {r.Events:N0} | {r.Repeats:N0} | – |";
                }
                else row = await RunSinkAsync(run, runners.For(SinkName(run))!, receiver, settings.Events, registry, load.EndLsn, timeout, ct);
                Log(row);
                rows.Add(row);
            }

        Console.WriteLine();
        Console.WriteLine($"one transaction of {settings.Events:N0} rows, receiver {Latency.TotalMilliseconds:0} ms per request, K = {Workers}, "
            + $"one event per request, slice budget {SinkLoop.SliceBudget.TotalSeconds:0} s; load average {session.LoadBefore:0.0} → {ProcStats.LoadAverage():0.0}");
        Console.WriteLine();
        Console.WriteLine("| contender | run | time | events/s | requests | distinct events | repeats | slices |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var row in rows) Console.WriteLine(row);
    }

    /// <summary>Slices with the Host's budget until the sink's cursor is at the transaction's end (or the bound passes).</summary>
    private static async Task<string> RunSinkAsync(int run, ISinkRunner runner, SinkReceiver receiver, long events, RegistryStore registry,
        ulong endLsn, TimeSpan timeout, CancellationToken ct)
    {
        SinkBench.Settle();
        var recording = receiver.Record(events);
        var clock = Stopwatch.StartNew();
        var slices = 0;
        var cursor = 0UL;
        while (cursor < endLsn && clock.Elapsed < timeout)
        {
            await runner.RunSliceAsync(SinkLoop.SliceBudget, ct);
            cursor = (await registry.GetCursorAsync(Slot, SinkRunners.Consumer(runner.Name), ct))?.Lsn ?? 0;
            slices++;
        }
        var elapsed = clock.Elapsed;
        var finished = cursor >= endLsn ? "" : $" (not finished: cursor {PgText.Lsn(cursor)} of {PgText.Lsn(endLsn)})";
        return $"| {EgressRunner.Contender}{finished} | {run} | {elapsed.TotalSeconds:0.0} s | {recording.Distinct / elapsed.TotalSeconds:N0} | "
            + $"{recording.Requests:N0} | {recording.Distinct:N0} | {recording.Repeats:N0} | {slices} |";
    }
}
