using System.Text;
using PgEgress.Core.Output;

namespace PgEgress.Bench;

/// <summary>The table printed to stdout: per contender the median run, its rates, and the ratios PgEgress / pg_recvlogical.</summary>
public static class BenchReport
{
    public static string Render(IngestSettings settings, LoadedChanges load, IReadOnlyList<RunResult> results, TimeSpan total,
        (double Before, double After) loadAverage)
    {
        var recv = Median(results, RecvLogicalRunner.Contender);
        var stream = Median(results, RecvLogicalRunner.StreamingContender);
        var egress = Median(results, EgressRunner.Contender);
        var walMb = load.WalBytes / 1e6;
        var text = new StringBuilder();
        text.AppendLine($"Ingest: {load.Rows:N0} rows in {load.Transactions:N0} transaction(s), {load.WalBytes / 1e6:0.0} MB of WAL "
                        + $"({PgText.Lsn(load.StartLsn)} → {PgText.Lsn(load.EndLsn)}); {Environment.ProcessorCount} cores; "
                        + $"median of {settings.Runs} run(s) each, alternating");
        text.AppendLine();
        text.AppendLine("| contender | median s | rows/s | WAL MB/s | client CPU s | walsender CPU s | runs (s) |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var (name, median) in new[] { (RecvLogicalRunner.Contender, recv), (RecvLogicalRunner.StreamingContender, stream), (EgressRunner.Contender, egress) })
        {
            var runs = string.Join(" / ", results.Where(r => r.Contender == name).Select(r => r.Elapsed.TotalSeconds.ToString("0.00")));
            var s = median.Elapsed.TotalSeconds;
            text.AppendLine($"| {name} | {s:0.00} | {load.Rows / s:N0} | {walMb / s:0.0} | {median.ClientCpu.TotalSeconds:0.00} | {median.WalsenderCpu.TotalSeconds:0.00} | {runs} |");
        }
        text.AppendLine();
        text.AppendLine($"Ratio PgEgress / pg_recvlogical (throughput): {recv.Elapsed / egress.Elapsed:0.00} against proto_version=1, "
                        + $"{stream.Elapsed / egress.Elapsed:0.00} against proto_version=2 streaming=on");
        text.AppendLine($"Client CPU per million changes: PgEgress {egress.ClientCpu.TotalSeconds * 1e6 / load.Rows:0.00} s, "
                        + $"pg_recvlogical {recv.ClientCpu.TotalSeconds * 1e6 / load.Rows:0.00} s (streaming {stream.ClientCpu.TotalSeconds * 1e6 / load.Rows:0.00} s)");

        var e = egress.Egress!;
        text.AppendLine();
        text.AppendLine("PgEgress, median run: "
                        + $"{e.Segments} segment(s) in {e.Slices} slice(s), {e.Changes:N0} changes; staged {Mb(e.StagedBytes)} gzip "
                        + $"({Mb(e.UncompressedBytes)} uncompressed)");
        text.AppendLine($"  peak managed heap {Mb(e.PeakManagedHeap)}, peak process RSS {Mb(e.PeakRss)}, "
                        + $"allocated {Mb(e.Allocated)} ({(double)e.Allocated / load.Rows:0} B/row), GCs gen0/1/2 {e.Gen0}/{e.Gen1}/{e.Gen2}");
        text.AppendLine($"  end to end: staged in {egress.Elapsed.TotalSeconds:0.00} s + flushed in {e.Flush.TotalSeconds:0.00} s to {e.FlushFiles} file(s), "
                        + $"{Mb(e.FlushBytes)} gzip: {(egress.Elapsed + e.Flush).TotalSeconds:0.00} s from the first change read to registered files, "
                        + $"ratio to pg_recvlogical alone {recv.Elapsed / (egress.Elapsed + e.Flush):0.00} (streaming {stream.Elapsed / (egress.Elapsed + e.Flush):0.00}); "
                        + $"the flush is {e.Flush.TotalSeconds / 300 * 100:0.0} % of a five-minute window; peak RSS through the flush {Mb(e.FlushPeakRss)}, "
                        + $"flush allocated {Mb(e.FlushAllocated)} ({(double)e.FlushAllocated / load.Rows:0} B/row)");
        var peaks = results.Where(r => r.Egress is not null).Select(r => r.Egress!).ToList();
        text.AppendLine($"  across runs: peak RSS max {Mb(peaks.Max(p => p.PeakRss))}, peak managed heap max {Mb(peaks.Max(p => p.PeakManagedHeap))}");
        text.AppendLine($"Total bench time {total.TotalSeconds:0} s; machine load average (1 min) {loadAverage.Before:0.00} before, "
                        + $"{loadAverage.After:0.00} after the runs (the bench itself adds ~2 while it runs)");
        return text.ToString();
    }

    private static RunResult Median(IEnumerable<RunResult> results, string contender)
    {
        var sorted = results.Where(r => r.Contender == contender).OrderBy(r => r.Elapsed).ToList();
        return sorted[(sorted.Count - 1) / 2];
    }

    private static string Mb(long bytes) => $"{bytes / 1e6:0.0} MB";
}
