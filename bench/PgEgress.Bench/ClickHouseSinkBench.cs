using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks;
using PgEgress.Testing;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// The ClickHouse sink against a local clickhouse-server (Debian's 18.16): --events rows in transactions of 100, staged,
/// then inserted by the sink (slice after slice, into a fresh database per run) vs a raw HttpClient loop posting the
/// very rows the sink's first run wrote (read back as TabSeparated) in INSERTs of the sink's batch size into a table of
/// the same structure: what the sink costs over a bare bulk insert of the same data.
/// </summary>
public static class ClickHouseSinkBench
{
    private const string Slot = "egress_sink_ch";
    private const string Publication = "sink_ch_pub";
    private const string Table = "sink_ch";
    private const int BatchRows = 10_000;

    public static async Task RunAsync(SinkTransactionSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        await using var clickHouse = await ClickHouseServer.StartAsync(ct);
        await BenchWorkload.CreateSchemaAsync(session.Db, Publication, [Table], ct);
        var options = new PgEgressOptions
        {
            Source = { ConnectionString = session.ConnectionString, Publication = Publication, Slot = Slot },
            Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(session.WorkRoot, "store") },
            WorkDirectory = Path.Combine(session.WorkRoot, "spool"),
            Reload = { InitialLoad = false },
        };
        for (var run = 1; run <= settings.Runs; run++)
            options.Sinks[$"ch_r{run}"] = new SinkOptions
            {
                Kind = SinkKind.ClickHouse, Url = clickHouse.Url, Database = $"sink_r{run}", User = ClickHouseServer.User, Password = ClickHouseServer.Password,
                CreateTables = true, BatchMaxRows = BatchRows, BatchMaxWait = TimeSpan.FromSeconds(1),
            };
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        var runners = services.GetRequiredService<SinkRunners>();
        var registry = services.GetRequiredService<RegistryStore>();

        Log($"loading {settings.Events:N0} rows into {Table} in transactions of 100");
        var load = await BenchWorkload.LoadAsync(session.Db, Table, settings.Events, (int)Math.Max(1, settings.Events / 100), ct);
        await PgEgressMessages.EmitAsync(session.Db, PgEgressMessages.Flush, ct);
        var (stageTime, _, _, staged) = await SinkBench.StageAsync(services.GetRequiredService<SliceConsumer>(), load.EndLsn, ct);
        if (staged != settings.Events) throw new InvalidOperationException($"PgEgress staged {staged} changes; the load made {settings.Events}");
        Log($"staged in {stageTime.TotalSeconds:0.0} s");

        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var rows = new List<string>();
        byte[][]? chunks = null;
        for (var run = 1; run <= settings.Runs; run++)
            for (var k = 0; k < 2; k++)
            {
                // The sink's first run makes the rows the baseline sends, so it goes first; then the order alternates.
                var baseline = (k == 0) == (run % 2 == 0);
                TimeSpan elapsed;
                SinkBench.Settle();
                if (baseline)
                {
                    chunks ??= await ChunksAsync(clickHouse, ct);
                    await clickHouse.QueryAsync($"CREATE DATABASE base_r{run}", ct);
                    await clickHouse.QueryAsync($"CREATE TABLE base_r{run}.t AS sink_r1.public__{Table}", ct);
                    var clock = Stopwatch.StartNew();
                    foreach (var chunk in chunks) await PostAsync(http, clickHouse, $"INSERT INTO base_r{run}.t FORMAT TabSeparated", chunk, ct);
                    elapsed = clock.Elapsed;
                }
                else
                {
                    // A slice runs its whole budget even once caught up: the clock stops when the cursor reaches the load's end.
                    var runner = runners.For($"ch_r{run}")!;
                    using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    var clock = Stopwatch.StartNew();
                    var slices = Task.Run(async () =>
                    {
                        while (!stop.IsCancellationRequested) await runner.RunSliceAsync(SinkLoop.SliceBudget, stop.Token);
                    }, ct);
                    while ((await registry.GetCursorAsync(Slot, SinkRunners.Consumer(runner.Name), ct))?.Lsn < load.EndLsn && !slices.IsCompleted)
                        await Task.Delay(5, ct);
                    elapsed = clock.Elapsed;
                    await stop.CancelAsync();
                    await slices;
                }
                var count = (await clickHouse.QueryAsync(baseline ? $"SELECT count() FROM base_r{run}.t" : $"SELECT count() FROM sink_r{run}.public__{Table} FINAL WHERE _is_deleted = 0", ct)).Trim();
                if (count != settings.Events.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    throw new InvalidOperationException($"run {run}: ClickHouse holds {count} rows, not {settings.Events}");
                var row = $"| {(baseline ? "raw HttpClient INSERTs" : "PgEgress ClickHouse sink")} | {run} | {elapsed.TotalSeconds:0.00} s | {settings.Events / elapsed.TotalSeconds:N0} |";
                Log(row);
                rows.Add(row);
            }

        Console.WriteLine();
        Console.WriteLine($"{settings.Events:N0} rows in transactions of 100, INSERTs of {BatchRows:N0} rows, clickhouse-server 18.16; load average {session.LoadBefore:0.0} → {ProcStats.LoadAverage():0.0}");
        Console.WriteLine();
        Console.WriteLine("| contender | run | time | rows/s |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        foreach (var row in rows) Console.WriteLine(row);
    }

    /// <summary>The rows the sink's first run wrote, as TabSeparated, in INSERT-sized chunks.</summary>
    private static async Task<byte[][]> ChunksAsync(ClickHouseServer clickHouse, CancellationToken ct)
    {
        var lines = (await clickHouse.QueryAsync($"SELECT * FROM sink_r1.public__{Table} FORMAT TabSeparated", ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Chunk(BatchRows).Select(c => Encoding.UTF8.GetBytes(string.Join('\n', c) + "\n")).ToArray();
    }

    private static async Task PostAsync(HttpClient http, ClickHouseServer clickHouse, string query, byte[] body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{clickHouse.Url}/?query={Uri.EscapeDataString(query)}") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/tab-separated-values");
        request.Headers.Add("X-ClickHouse-User", ClickHouseServer.User);
        request.Headers.Add("X-ClickHouse-Key", ClickHouseServer.Password);
        using var response = await http.SendAsync(request, ct);
        if ((int)response.StatusCode != 200) throw new InvalidOperationException($"ClickHouse: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
    }
}
