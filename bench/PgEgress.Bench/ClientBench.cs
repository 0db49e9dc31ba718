using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Api;
using PgEgress.Core.Clients;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// The client change feed in one process on one throwaway cluster, through <see cref="ClientsApi"/> (the routes' own
/// code, without Kestrel): (1) one client and then 20 at once reading a staged change set as fast as they can, in pages
/// of 10,000, against the staged log read directly with the same JSON per change; (2) commit → long-poll answer latency
/// with a writer at a steady rate while ingest runs.
/// </summary>
public static class ClientBench
{
    private const string Slot = "egress_clients";
    private const string Publication = "client_pub";
    private const string Table = "client_bench";
    private const string LatencyTable = "client_lat";

    public static async Task RunAsync(ClientSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        var db = session.Db;
        await BenchWorkload.CreateSchemaAsync(db, Publication, [Table, LatencyTable], ct);
        var options = new PgEgressOptions
        {
            Source = { ConnectionString = session.ConnectionString, Publication = Publication, Slot = Slot },
            Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(session.WorkRoot, "store") },
            WorkDirectory = Path.Combine(session.WorkRoot, "spool"),
            Slice = { MaxDuration = TimeSpan.FromMilliseconds(200) },
            Reload = { InitialLoad = false },
        };
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
            .BuildServiceProvider();
        await services.GetRequiredService<PipelineStartup>().RunAsync(ct);
        var api = services.GetRequiredService<ClientsApi>();
        var consumer = services.GetRequiredService<SliceConsumer>();

        var readers = new List<(string Id, string Secret)>();
        for (var i = 0; i <= settings.Clients; i++) readers.Add(await RegisterAsync(api, $$"""{"name":"reader{{i}}","tables":["public.{{Table}}"],"start":"earliest"}""", ct));
        var transactions = checked((int)((settings.Events + 99) / 100));
        Log($"loading {settings.Events:N0} rows into {Table} ({transactions:N0} transactions)");
        var load = await BenchWorkload.LoadAsync(db, Table, settings.Events, transactions, ct);
        await PgEgressMessages.EmitAsync(db, PgEgressMessages.Flush, ct);
        var (stageTime, _, segments, staged) = await SinkBench.StageAsync(consumer, load.EndLsn, ct);
        Log($"staged {staged:N0} changes in {segments} segment(s), {stageTime.TotalSeconds:0.0} s");

        // Baseline: the staged log read directly, each change written as the feed writes it.
        var log = services.GetRequiredService<StagedLog>();
        var direct = new List<double>();
        for (var run = 0; run < settings.Runs; run++)
        {
            var clock = Stopwatch.StartNew();
            long n = 0;
            await using (var json = new Utf8JsonWriter(Stream.Null))
                await log.ReadAsync(Slot, 0, (_, events) =>
                {
                    foreach (var e in events)
                    {
                        ChangeJson.Write(json, e, Slot);
                        json.Flush();
                        json.Reset(Stream.Null);
                        n++;
                    }
                    return Task.FromResult(true);
                }, ct);
            if (n != settings.Events) throw new InvalidOperationException($"the staged log held {n} changes, not {settings.Events}");
            direct.Add(n / clock.Elapsed.TotalSeconds);
        }
        var one = new List<double>();
        var many = new List<double>();
        for (var run = 0; run < settings.Runs; run++)
        {
            var clock = Stopwatch.StartNew();
            await ReadAllAsync(api, readers[0], settings.Events, ct);
            one.Add(settings.Events / clock.Elapsed.TotalSeconds);
            clock.Restart();
            await Task.WhenAll(readers.Skip(1).Select(r => Task.Run(() => ReadAllAsync(api, r, settings.Events, ct), ct)));
            many.Add(settings.Clients * settings.Events / clock.Elapsed.TotalSeconds);
            Log($"run {run + 1}: direct {direct[run]:N0} changes/s, one client {one[run]:N0}/s, {settings.Clients} clients {many[run]:N0}/s in total");
        }

        // Latency: ingest slice after slice, a long-polling client, a writer at the rate.
        using var stop = new CancellationTokenSource();
        var ingest = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) await consumer.ConsumeSliceAsync(stop.Token);
        }, ct);
        var poller = await RegisterAsync(api, $$"""{"name":"poller","tables":["public.{{LatencyTable}}"]}""", ct);
        var latencies = new List<double>();
        var polling = Task.Run(async () =>
        {
            string? after = null;
            while (!stop.IsCancellationRequested)
            {
                var (reply, stream) = await api.ChangesAsync(poller.Id, "Bearer " + poller.Secret, after, "10000", "30", null, stop.Token);
                if (reply is not null) throw new InvalidOperationException($"feed answered {reply.StatusCode}: {reply.Problem}");
                after = stream!.Headers[FeedPage.NextHeader];
                if (stream.Body is null) continue;
                using var body = new MemoryStream();
                await stream.Body(body, stop.Token);
                var answered = DateTime.UtcNow;
                foreach (var change in JsonDocument.Parse(body.ToArray()).RootElement.GetProperty("changes").EnumerateArray())
                    latencies.Add((answered - change.GetProperty("commit_ts").GetDateTime().ToUniversalTime()).TotalMilliseconds);
            }
        }, ct);
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO {LatencyTable} {BenchWorkload.RowsSelect}", conn);
            insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 0 });
            insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 0 });
            await insert.PrepareAsync(ct);
            var interval = TimeSpan.FromSeconds(10.0 / settings.Rate);
            var txns = settings.Seconds * settings.Rate / 10;
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < txns; i++)
            {
                var wait = interval * i - clock.Elapsed;
                if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait, ct);
                ((NpgsqlParameter<int>)insert.Parameters[0]).TypedValue = i * 10 + 1;
                ((NpgsqlParameter<int>)insert.Parameters[1]).TypedValue = (i + 1) * 10;
                await insert.ExecuteNonQueryAsync(ct);
            }
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (latencies.Count < txns * 10 && DateTime.UtcNow < deadline) await Task.Delay(100, ct);
        }
        await stop.CancelAsync();
        try
        {
            await Task.WhenAll(ingest, polling);
        }
        catch (OperationCanceledException)
        {
        }
        var sorted = latencies.Order().ToList();
        double P(double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];

        var report = new StringBuilder();
        report.AppendLine($"clients bench: {settings.Events:N0} changes staged ({segments} segments), pages of 10,000, median of {settings.Runs} runs; load average {session.LoadBefore:0.0} at the start");
        report.AppendLine($"| contender | changes/s |");
        report.AppendLine($"| --- | ---: |");
        report.AppendLine($"| staged log read directly (StagedLog + ChangeJson) | {Median(direct):N0} |");
        report.AppendLine($"| one client through the feed (ClientsApi.ChangesAsync) | {Median(one):N0} |");
        report.AppendLine($"| {settings.Clients} clients at once, in total | {Median(many):N0} |");
        report.AppendLine($"commit → long-poll answer at {settings.Rate:N0} changes/s for {settings.Seconds} s (200 ms slices), {sorted.Count:N0} changes: p50 {P(0.5):0} ms, p99 {P(0.99):0} ms, max {P(1):0} ms");
        Console.WriteLine();
        Console.WriteLine(report);
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static async Task<(string Id, string Secret)> RegisterAsync(ClientsApi api, string json, CancellationToken ct)
    {
        var reply = await api.RegisterAsync(Encoding.UTF8.GetBytes(json), ct);
        if (reply.StatusCode != 201) throw new InvalidOperationException($"registration answered {reply.StatusCode}: {reply.Problem}");
        var body = JsonDocument.Parse(JsonSerializer.Serialize(reply.Body, ApiJson.Options)).RootElement;
        return (body.GetProperty("id").GetString()!, body.GetProperty("secret").GetString()!);
    }

    /// <summary>Reads the whole change set from the client's cursor, page after page, as NDJSON into a line counter.</summary>
    private static async Task ReadAllAsync(ClientsApi api, (string Id, string Secret) client, long expected, CancellationToken ct)
    {
        long seen = 0;
        string? after = null;
        var lines = new LineCounter();
        while (seen < expected)
        {
            var (reply, stream) = await api.ChangesAsync(client.Id, "Bearer " + client.Secret, after, "10000", null, "application/x-ndjson", ct);
            if (reply is not null) throw new InvalidOperationException($"feed answered {reply.StatusCode}: {reply.Problem}");
            after = stream!.Headers[FeedPage.NextHeader];
            await stream.Body!(lines, ct);
            if (lines.Lines == seen) throw new InvalidOperationException($"the feed ended after {seen} of {expected} changes");
            seen = lines.Lines;
        }
    }

    private sealed class LineCounter : Stream
    {
        public long Lines { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer) => Lines += buffer.Count((byte)'\n');
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
