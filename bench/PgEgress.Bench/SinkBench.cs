using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
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
/// The sinks benchmark, in one process on one throwaway cluster: (1) the webhook sink delivering a staged change set
/// with K = 1 and K = 8 workers (and K = 8 with batches of 50) against a raw HttpClient loop posting the same bodies;
/// (2) commit-to-delivery latency with a writer inserting at a steady rate while ingest and one sink run concurrently.
/// </summary>
public static class SinkBench
{
    private const string Slot = "egress_sinks";
    private const string Publication = "sink_pub";
    private const string Table = "sink_bench";
    private const string WarmupTable = "sink_warm";
    private const string LatencyTable = "sink_lat";
    private const string LatencySink = "latency";
    private const long WarmupEvents = 10_000;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The throughput configurations: (workers, events per request).</summary>
    private static readonly (int Workers, int Batch)[] Configs = [(1, 1), (8, 1), (8, 50)];

    private static string SinkName(int workers, int batch, int run) => $"k{workers}_b{batch}_r{run}";
    private static string WarmupSink(int workers, int batch) => $"warmup_k{workers}_b{batch}";

    public static async Task RunAsync(SinkSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        var db = session.Db;
        await BenchWorkload.CreateSchemaAsync(db, Publication, [Table, WarmupTable, LatencyTable], ct);

        await using var receiver = SinkReceiver.Start();
        var options = Options(session.ConnectionString, session.WorkRoot, receiver.Url + "/events", settings);
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        // Store, source setup (slot), and a cursor for every configured sink. All of them are created here, before
        // anything is delivered, so each starts at 0/0: a sink added later starts at the lowest existing cursor.
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        var consumer = services.GetRequiredService<SliceConsumer>();
        var runners = services.GetRequiredService<SinkRunners>();
        var registry = services.GetRequiredService<RegistryStore>();

        // The change set: warm-up rows first, then the measured ones; a flush marker ends the last slice right after it.
        var transactions = checked((int)((settings.Events + settings.RowsPerTransaction - 1) / settings.RowsPerTransaction));
        Log($"loading {WarmupEvents:N0} warm-up rows and {settings.Events:N0} rows into {Table} ({transactions:N0} transactions)");
        var warm = await BenchWorkload.LoadAsync(db, WarmupTable, WarmupEvents, (int)(WarmupEvents / 100), ct);
        var load = await BenchWorkload.LoadAsync(db, Table, settings.Events, transactions, ct);
        await PgEgressMessages.EmitAsync(db, PgEgressMessages.Flush, ct);
        Log($"loaded in {load.LoadTime.TotalSeconds:0.0} s; staging (Slice.MaxDuration {options.Slice.MaxDuration.TotalSeconds:0.###} s)");
        var (stageTime, slices, segments, staged) = await StageAsync(consumer, load.EndLsn, ct);
        if (staged != WarmupEvents + settings.Events)
            throw new InvalidOperationException($"PgEgress staged {staged} changes; the loads made {WarmupEvents + settings.Events}");
        Log($"staged {staged:N0} changes in {slices} slice(s), {segments} segment(s), {stageTime.TotalSeconds:0.0} s");

        // The baseline's bodies: what CloudEventsEndpoint builds for the same events, one per request and 50 per request.
        var bodies = await SerializeAsync(services.GetRequiredService<StagedLog>(), options.Sinks[SinkName(8, 50, 1)], ct);
        var stagingInfo = new SinkStaging(load, stageTime, slices, segments, staged,
            bodies[(Table, 1)].Sum(b => (long)b.Length), bodies[(Table, 50)].Count);
        Log($"serialized {bodies[(Table, 1)].Count:N0} single-event bodies ({stagingInfo.BodyBytes / 1e6:0.0} MB) and "
            + $"{stagingInfo.BatchBodies:N0} bodies of 50 for the baseline");

        // Warm-up (untimed): the sink path with batches of 1 and of 50, and the baseline's loop.
        Log($"warm-up: {WarmupEvents:N0} events through PgEgress (K = 8, batch 1 and 50) and the raw HttpClient loop");
        foreach (var batch in new[] { 1, 50 })
        {
            // Its cursor ends where the staged log ends: it reads past the measured rows too (its filter drops them).
            await RunSinkAsync(0, runners.For(WarmupSink(8, batch))!, 8, batch, receiver, WarmupEvents, registry, load.EndLsn, ct);
            await SinkBaseline.RunAsync(0, receiver, bodies[(WarmupTable, batch)], batch, 8, WarmupEvents, ct);
        }

        // Where PgEgress's time goes without HTTP: its reader alone, then the reader with the request bodies built.
        var log = services.GetRequiredService<StagedLog>();
        var readFloor = await ReadFloorAsync(log, options.Sinks[SinkName(8, 1, 1)], build: false, settings.Events, ct);
        var buildFloor = await ReadFloorAsync(log, options.Sinks[SinkName(8, 1, 1)], build: true, settings.Events, ct);
        Log($"staged-log read alone: {readFloor.TotalSeconds:0.00} s; with a request built per event: {buildFloor.TotalSeconds:0.00} s");
        stagingInfo = stagingInfo with { ReadFloor = readFloor, BuildFloor = buildFloor };

        var results = new List<SinkRun>();
        for (var run = 1; run <= settings.Runs; run++)
            for (var c = 0; c < Configs.Length; c++)
            {
                var (workers, batch) = Configs[c];
                // Alternate which contender goes first, so neither always runs on a warmer or cooler machine.
                var baselineFirst = (run + c) % 2 == 1;
                for (var k = 0; k < 2; k++)
                {
                    var r = (k == 0) == baselineFirst
                        ? await SinkBaseline.RunAsync(run, receiver, bodies[(Table, batch)], batch, workers, settings.Events, ct)
                        : await RunSinkAsync(run, runners.For(SinkName(workers, batch, run))!, workers, batch, receiver, settings.Events,
                            registry, load.EndLsn, ct);
                    Log($"run {run}: {r.Contender,-14} K = {workers}, batch {batch,2}: {r.Elapsed.TotalSeconds,6:0.00} s, "
                        + $"{r.EventsPerSecond,8:N0} events/s, {r.Requests:N0} requests, CPU {r.Cpu.TotalSeconds:0.0} s"
                        + (r.Repeats > 0 ? $", {r.Repeats:N0} repeats" : ""));
                    results.Add(r);
                }
            }

        bodies.Clear(); // ~250 MB the latency part has no use for
        var latency = await LatencyAsync(settings, options, consumer, runners, registry, receiver, db,
            services.GetRequiredService<ILoggerFactory>(), ct);
        var loadAfter = ProcStats.LoadAverage();

        Console.WriteLine();
        Console.WriteLine(SinkReport.Render(settings, stagingInfo, results, latency, session.Elapsed, (session.LoadBefore, loadAfter)));
    }

    private static PgEgressOptions Options(string connectionString, string workRoot, string url, SinkSettings settings)
    {
        var options = new PgEgressOptions
        {
            Source = { ConnectionString = connectionString, Publication = Publication, Slot = Slot },
            Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(workRoot, "store") },
            WorkDirectory = Path.Combine(workRoot, "spool"),
            Slice = { MaxDuration = TimeSpan.FromSeconds(1) },
            Reload = { InitialLoad = false },
        };
        // Only what the task varies is set; everything else (timeout, retries, BatchMaxWait 50 ms, no secret) is the default.
        SinkOptions Http(int workers, int batch, string table) => new()
        {
            Kind = SinkKind.Http, Url = url, Workers = workers, BatchMaxEvents = batch, Tables = [$"public.{table}"],
        };
        foreach (var batch in new[] { 1, 50 }) options.Sinks[WarmupSink(8, batch)] = Http(8, batch, WarmupTable);
        for (var run = 1; run <= settings.Runs; run++)
            foreach (var (workers, batch) in Configs)
                options.Sinks[SinkName(workers, batch, run)] = Http(workers, batch, Table);
        options.Sinks[LatencySink] = Http(8, 50, LatencyTable);
        var errors = new List<string>();
        foreach (var (name, sink) in options.Sinks) SinkValidator.Validate(name, sink, ListenAddresses.None, errors);
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));
        return options;
    }

    /// <summary>Slices until the staged LSN reaches <paramref name="endLsn"/>, as EgressRunner does.</summary>
    internal static async Task<(TimeSpan Time, int Slices, int Segments, long Changes)> StageAsync(SliceConsumer consumer, ulong endLsn, CancellationToken ct)
    {
        var (slices, segments, changes) = (0, 0, 0L);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var slice = await consumer.ConsumeSliceAsync(ct);
            slices++;
            changes += slice.Changes;
            if (slice.Segment is not null) segments++;
            if (slice.EndLsn >= endLsn) return (clock.Elapsed, slices, segments, changes);
            if (clock.Elapsed > RunTimeout)
                throw new TimeoutException($"PgEgress staged only up to {PgText.Lsn(slice.EndLsn)} of {PgText.Lsn(endLsn)} in {RunTimeout}");
        }
    }

    /// <summary>The CloudEvents bodies of the staged events per (table, events per request), built by CloudEventsEndpoint.</summary>
    private static async Task<Dictionary<(string Table, int Batch), List<byte[]>>> SerializeAsync(StagedLog log, SinkOptions sink, CancellationToken ct)
    {
        var endpoint = new CloudEventsEndpoint(Slot, sink, TimeProvider.System);
        var bodies = new Dictionary<(string, int), List<byte[]>>();
        var pending = new Dictionary<string, List<SinkEvent>>();
        foreach (var table in new[] { Table, WarmupTable })
        {
            (bodies[(table, 1)], bodies[(table, 50)], pending[table]) = ([], [], []);
        }

        async Task AddAsync(string table, IReadOnlyList<SinkEvent> events, int batch)
        {
            using var request = endpoint.Build(events);
            bodies[(table, batch)].Add(await request.Content!.ReadAsByteArrayAsync(ct));
        }

        await log.ReadAsync(Slot, 0, async (_, events) =>
        {
            foreach (var e in events)
            {
                var table = e.Row.Relation.Name;
                if (!pending.TryGetValue(table, out var batch)) continue;
                await AddAsync(table, [e], 1);
                batch.Add(e);
                if (batch.Count < 50) continue;
                await AddAsync(table, batch, 50);
                batch.Clear();
            }
            return true;
        }, ct);
        foreach (var (table, batch) in pending)
            if (batch.Count > 0) await AddAsync(table, batch, 50);
        return bodies;
    }

    /// <summary>
    /// One pass over the staged log on one thread as EventSinkRunner's reader makes it (StagedLog.ReadAsync, the sink's
    /// filter, the partition hash for 8 workers), optionally building each event's request as its workers do; no HTTP.
    /// </summary>
    private static async Task<TimeSpan> ReadFloorAsync(StagedLog log, SinkOptions sink, bool build, long expected, CancellationToken ct)
    {
        var filter = new SinkFilter(sink);
        var endpoint = new CloudEventsEndpoint(Slot, sink, TimeProvider.System);
        var (events, partitions) = (0L, 0L);
        Settle();
        var clock = Stopwatch.StartNew();
        await log.ReadAsync(Slot, 0, (_, rows) =>
        {
            foreach (var e in rows)
            {
                if (!filter.Accepts(e.Row)) continue;
                events++;
                partitions += e.Partition(8);
                if (build) endpoint.Build([e]).Dispose();
            }
            return Task.FromResult(true);
        }, ct);
        var elapsed = clock.Elapsed;
        if (events != expected) throw new InvalidOperationException($"the staged log held {events} events of {Table}, not {expected}");
        GC.KeepAlive(partitions);
        return elapsed;
    }

    /// <summary>
    /// A fresh sink (its cursor at 0/0) delivering the whole staged log: RunSliceAsync(SinkLoop.SliceBudget) again and
    /// again, as SinkLoop does, until the receiver has every event id; then the slice is ended and its cursor checked.
    /// </summary>
    private static async Task<SinkRun> RunSinkAsync(int run, ISinkRunner runner, int workers, int batch, SinkReceiver receiver, long events,
        RegistryStore registry, ulong endLsn, CancellationToken ct)
    {
        Settle();
        var recording = receiver.Record(events);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var cpuUsed = TimeSpan.Zero;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var start = Stopwatch.GetTimestamp();
        var watch = Task.Run(async () =>
        {
            try
            {
                await recording.Complete.WaitAsync(RunTimeout, done.Token);
                cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
                // Let the last responses reach the workers and the cursor be written before the slice is ended.
                await Task.Delay(TimeSpan.FromMilliseconds(500), done.Token);
            }
            finally
            {
                await done.CancelAsync();
            }
        }, CancellationToken.None);

        var first = true;
        while (!done.IsCancellationRequested)
        {
            var slice = await runner.RunSliceAsync(SinkLoop.SliceBudget, done.Token);
            if (first && slice.StartLsn != 0)
                throw new InvalidOperationException($"sink {runner.Name} started at {PgText.Lsn(slice.StartLsn)}, not 0/0");
            first = false;
        }
        await watch; // throws the TimeoutException when the events never all arrived
        var end = await recording.Complete;
        var cursor = (await registry.GetCursorAsync(Slot, SinkRunners.Consumer(runner.Name), ct))?.Lsn ?? 0;
        if (cursor != endLsn)
            throw new InvalidOperationException($"sink {runner.Name}: every event arrived but its cursor is {PgText.Lsn(cursor)}, not {PgText.Lsn(endLsn)}");
        return new SinkRun(EgressRunner.Contender, workers, batch, run, Stopwatch.GetElapsedTime(start, end), recording.Distinct,
            recording.Requests, recording.Repeats, cpuUsed);
    }

    /// <summary>
    /// Ingest (slice after slice, default slice bounds: 10 s, or 50 ms of quiet after a commit) and the latency sink
    /// (SinkLoop, K = 8, batch 50) run while a
    /// writer inserts --rate rows/s in transactions of 50 on a Stopwatch schedule for --seconds; per event, the receiver's
    /// arrival time minus the transaction's commit timestamp (the event's CloudEvents time), and the same commit time
    /// against the moment the slice that staged it returned.
    /// </summary>
    private static async Task<LatencyResult> LatencyAsync(SinkSettings settings, PgEgressOptions options, SliceConsumer consumer,
        SinkRunners runners, RegistryStore registry, SinkReceiver receiver, NpgsqlDataSource db, ILoggerFactory loggers, CancellationToken ct)
    {
        // The Host's defaults: a slice ends at 10 s, or once the stream is quiet for Slice.QuietAfterCommit after a commit.
        options.Slice.MaxDuration = new SliceOptions().MaxDuration;
        var sinkOptions = options.Sinks[LatencySink];
        var rowsPerTxn = settings.LatencyRowsPerTransaction;
        var txns = checked((int)Math.Max(1, Math.Round((double)settings.Rate * settings.Seconds / rowsPerTxn)));
        var interval = TimeSpan.FromSeconds((double)rowsPerTxn / settings.Rate);
        Log($"latency: {settings.Rate:N0} rows/s for {settings.Seconds} s ({txns:N0} transactions of {rowsPerTxn}, one every "
            + $"{interval.TotalMilliseconds:0.##} ms); ingest with Slice.MaxDuration {options.Slice.MaxDuration.TotalMilliseconds:0} ms "
            + $"and QuietAfterCommit {options.Slice.QuietAfterCommit.TotalMilliseconds:0} ms, "
            + $"sink K = {sinkOptions.Workers}, batch {sinkOptions.BatchMaxEvents}");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sliceLog = new List<(SliceResult Slice, DateTime Returned)>();
        var ingest = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var slice = await consumer.ConsumeSliceAsync(stop.Token);
                var returned = DateTime.UtcNow;
                lock (sliceLog) sliceLog.Add((slice, returned));
            }
        }, CancellationToken.None);
        var sink = Task.Run(() => new SinkLoop(runners.For(LatencySink)!, options.Health, loggers.CreateLogger(LatencySink)).RunAsync(stop.Token), CancellationToken.None);

        // The latency sink was created with the others at 0/0: let it read past the staged log (none of it is its table's).
        var catchUp = Stopwatch.StartNew();
        var stagedLsn = await registry.GetStagedLsnAsync(Slot, ct);
        while (((await registry.GetCursorAsync(Slot, SinkRunners.Consumer(LatencySink), ct))?.Lsn ?? 0) < stagedLsn)
        {
            if (catchUp.Elapsed > RunTimeout) throw new TimeoutException("the latency sink never caught up with the staged log");
            if (ingest.IsFaulted || sink.IsCompleted) break;
            await Task.Delay(100, ct);
        }
        Log($"latency sink caught up with the staged log in {catchUp.Elapsed.TotalSeconds:0.0} s; writing");

        Settle();
        var recording = receiver.Record((long)txns * rowsPerTxn);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var insert = new NpgsqlCommand($"INSERT INTO {LatencyTable} {BenchWorkload.RowsSelect}", conn);
        insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 0 });
        insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 0 });
        await insert.PrepareAsync(ct);
        var late = 0;
        var writerStart = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < txns; i++)
        {
            var wait = interval * i - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait, ct);
            else if (wait < -interval) late++;
            ((NpgsqlParameter<int>)insert.Parameters[0]).TypedValue = i * rowsPerTxn + 1;
            ((NpgsqlParameter<int>)insert.Parameters[1]).TypedValue = (i + 1) * rowsPerTxn;
            await insert.ExecuteNonQueryAsync(ct);
            if (ingest.IsFaulted || sink.IsCompleted) break;
        }
        var writerTime = clock.Elapsed;
        var rows = (long)txns * rowsPerTxn;
        Log($"wrote {rows:N0} rows in {writerTime.TotalSeconds:0.0} s ({rows / writerTime.TotalSeconds:N0} rows/s, {late} transaction(s) late); "
            + "waiting for the last events");

        var arrived = await Task.WhenAny(recording.Complete, ingest, sink, Task.Delay(TimeSpan.FromSeconds(60), ct));
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
        await stop.CancelAsync();
        await ingest;
        await sink;
        if (arrived != recording.Complete)
            throw new TimeoutException($"only {recording.Distinct:N0} of {rows:N0} events arrived within 60 s of the last insert");

        // Per event after the warm-up: commit → slice returned, commit → arrival, slice returned → arrival.
        var slices = sliceLog.Where(s => s.Slice.Transactions > 0).OrderBy(s => s.Slice.EndLsn).ToArray();
        var sliceEnds = slices.Select(s => s.Slice.EndLsn).ToArray();
        var cutoff = writerStart + TimeSpan.FromSeconds(settings.WarmupSeconds);
        List<TimeSpan> staged = [], delivered = [], afterStaged = [];
        foreach (var (id, a) in recording.Arrivals)
        {
            if (a.Commit < cutoff) continue;
            var lsn = PgText.ParseLsn(id[..id.LastIndexOf('-')]);
            var at = Array.BinarySearch(sliceEnds, lsn);
            if (at < 0) at = ~at;
            if (at == sliceEnds.Length) throw new InvalidOperationException($"event {id} arrived but no slice staged it");
            var returned = slices[at].Returned;
            staged.Add(returned - a.Commit);
            delivered.Add(a.ArrivedUtc - a.Commit);
            afterStaged.Add(a.ArrivedUtc - returned);
        }
        if (delivered.Count == 0) throw new InvalidOperationException("no event committed after the warm-up");
        var during = sliceLog.Where(s => s.Slice.StartedAt >= cutoff && s.Slice.StartedAt <= writerStart + writerTime)
            .Select(s => s.Returned - s.Slice.StartedAt).Order().ToList();
        return new LatencyResult(settings.Rate, rows / writerTime.TotalSeconds, rowsPerTxn, interval, writerTime, rows, delivered.Count,
            options.Slice.MaxDuration, sinkOptions.Workers, sinkOptions.BatchMaxEvents, sinkOptions.BatchMaxWait,
            LatencyStats.Of(staged), LatencyStats.Of(delivered), LatencyStats.Of(afterStaged),
            during.Count, during.Count > 0 ? during[during.Count / 2] : TimeSpan.Zero, recording.Requests, recording.Repeats, late, cpuUsed);
    }

    /// <summary>Starts a timed run from a collected heap, as the other benches do.</summary>
    internal static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
