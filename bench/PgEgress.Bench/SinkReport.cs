using System.Text;
using PgEgress.Core.Output;

namespace PgEgress.Bench;

/// <summary>The sinks benchmark's tables: throughput per contender and K with the ratios, then the latency percentiles.</summary>
public static class SinkReport
{
    public static string Render(SinkSettings settings, SinkStaging staging, IReadOnlyList<SinkRun> runs, LatencyResult latency, TimeSpan total,
        (double Before, double After) loadAverage)
    {
        var load = staging.Load;
        var text = new StringBuilder();
        text.AppendLine($"Sinks: webhook (CloudEvents, HTTP/1.1 loopback receiver answering 204) on {Environment.ProcessorCount} cores; "
                        + $"median of {settings.Runs} run(s) each, alternating");
        text.AppendLine();
        text.AppendLine($"Throughput: {load.Rows:N0} single-row insert events in {load.Transactions:N0} transactions "
                        + $"({load.WalBytes / 1e6:0.0} MB of WAL, {PgText.Lsn(load.StartLsn)} → {PgText.Lsn(load.EndLsn)}), staged first in "
                        + $"{staging.StageTime.TotalSeconds:0.0} s ({staging.Slices} slices of at most 1 s, {staging.Segments} segments); "
                        + $"single-event bodies {staging.BodyBytes / (double)load.Rows:0} B on average");
        text.AppendLine();
        text.AppendLine("| contender | K | events/request | median s | events/s | requests/s | process CPU s | PgEgress / raw HTTP | runs (s) |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        var medians = new Dictionary<(string, int, int), SinkRun>();
        foreach (var group in runs.GroupBy(r => (r.Workers, r.Batch)))
        {
            foreach (var contender in new[] { SinkBaseline.Contender, EgressRunner.Contender })
            {
                var mine = group.Where(r => r.Contender == contender).OrderBy(r => r.Elapsed).ToList();
                var m = mine[(mine.Count - 1) / 2];
                medians[(contender, group.Key.Workers, group.Key.Batch)] = m;
                var ratio = contender == EgressRunner.Contender
                    ? (medians[(SinkBaseline.Contender, m.Workers, m.Batch)].Elapsed / m.Elapsed).ToString("0.00")
                    : "";
                text.AppendLine($"| {contender} | {m.Workers} | {m.Batch} | {m.Elapsed.TotalSeconds:0.00} | {m.EventsPerSecond:N0} | "
                                + $"{m.Requests / m.Elapsed.TotalSeconds:N0} | {m.Cpu.TotalSeconds:0.0} | {ratio} | "
                                + $"{string.Join(" / ", mine.OrderBy(r => r.Run).Select(r => r.Elapsed.TotalSeconds.ToString("0.00")))} |");
            }
        }
        text.AppendLine();
        double Scale(string contender) => medians[(contender, 1, 1)].Elapsed / medians[(contender, 8, 1)].Elapsed;
        text.AppendLine($"Ratio K = 8 / K = 1 (events/s, one event per request): PgEgress {Scale(EgressRunner.Contender):0.00}, "
                        + $"raw HttpClient {Scale(SinkBaseline.Contender):0.00}");
        text.AppendLine($"PgEgress without HTTP, one thread: the staged-log reader alone (StagedLog.ReadAsync, filter, partition hash) "
                        + $"{load.Rows / staging.ReadFloor.TotalSeconds:N0} events/s; building each event's request too "
                        + $"(CloudEventsEndpoint.Build) {load.Rows / staging.BuildFloor.TotalSeconds:N0} events/s");
        var repeats = runs.Sum(r => r.Repeats);
        if (repeats > 0) text.AppendLine($"Repeated deliveries across all runs: {repeats:N0}");

        var l = latency;
        text.AppendLine();
        text.AppendLine($"Latency: writer at {l.TargetRate:N0} rows/s ({l.RowsPerTransaction} rows per transaction every "
                        + $"{l.Interval.TotalMilliseconds:0.##} ms) for {l.WriterTime.TotalSeconds:0.0} s, achieved {l.AchievedRate:N0} rows/s "
                        + $"({l.LateTransactions} transaction(s) more than one interval late); ingest Slice.MaxDuration "
                        + $"{l.SliceMaxDuration.TotalMilliseconds:0} ms (median slice {l.SliceMedian.TotalMilliseconds:0} ms, {l.Slices} slices "
                        + $"after the warm-up), sink K = {l.Workers}, batch {l.Batch} (BatchMaxWait {l.BatchMaxWait.TotalMilliseconds:0} ms); "
                        + $"{l.Counted:N0} events after the first {settings.WarmupSeconds} s counted");
        text.AppendLine();
        text.AppendLine("| path | p50 ms | p95 ms | p99 ms | max ms |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (name, s) in new[]
                 {
                     ("commit → segment staged (slice returned)", l.Staged),
                     ("segment staged → delivered", l.AfterStaged),
                     ("commit → delivered (receiver)", l.Delivered),
                 })
            text.AppendLine($"| {name} | {Ms(s.P50)} | {Ms(s.P95)} | {Ms(s.P99)} | {Ms(s.Max)} |");
        text.AppendLine();
        text.AppendLine($"Latency run: {l.Rows:N0} events in {l.Requests:N0} requests ({(double)l.Rows / l.Requests:0.0} events/request), "
                        + $"{l.Repeats:N0} repeats, process CPU {l.Cpu.TotalSeconds:0.0} s ({l.Cpu / l.WriterTime * 100:0} % of one core over the writer's run); "
                        + $"lowest commit → delivered {Ms(l.Delivered.Min)} ms");
        text.AppendLine($"Total bench time {total.TotalSeconds:0} s; machine load average (1 min) {loadAverage.Before:0.00} before, "
                        + $"{loadAverage.After:0.00} after the runs");
        return text.ToString();
    }

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.0");
}
