using PgEgress.Core.Domain;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Storage;
using PgEgress.Testing;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// The reload benchmark: one throwaway cluster, one table of BenchWorkload's column mix, exported to a gzip CSV by
/// psql's \copy piped into gzip -1 (the baseline) and by PgEgress's TableExporter under an exported snapshot, runs
/// alternating, medians reported.
/// </summary>
public static class ReloadBench
{
    private const string Baseline = "psql + gzip -1";
    private const string Contender = "PgEgress";
    private const long WarmupRows = 20_000;

    public static async Task RunAsync(ReloadSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        var (db, connectionString, workRoot) = (session.Db, session.ConnectionString, session.WorkRoot);
        await BenchWorkload.CreateSchemaAsync(db, ct);
        Log($"loading {settings.Rows:N0} rows into {BenchWorkload.Table}");
        await BenchWorkload.LoadAsync(db, BenchWorkload.Table, settings.Rows, 1, ct);
        await BenchWorkload.LoadAsync(db, BenchWorkload.WarmupTable, WarmupRows, 1, ct);
        // Hint bits and the visibility map set once, so no run pays for the load's aftermath and every run reads the same pages.
        await BenchWorkload.ExecuteAsync(db, "VACUUM (FREEZE, ANALYZE); CHECKPOINT", ct);
        var size = await BenchWorkload.ScalarAsync<long>(db, $"SELECT pg_relation_size('{BenchWorkload.Table}')", ct);
        Log($"{BenchWorkload.Table}: {size / 1e6:0.0} MB on disk");

        // Warm-up (untimed): JIT-compiles and tiers up the export path before the first timed run.
        await ExportAsync(0, connectionString, db, BenchWorkload.WarmupTable, settings.Workers, workRoot, ct);

        var results = new List<ReloadRun>();
        for (var run = 1; run <= settings.Runs; run++)
        {
            // Alternate which contender goes first, so neither always runs on a warmer or cooler machine.
            var baselineFirst = run % 2 == 1;
            for (var k = 0; k < 2; k++)
            {
                var r = (k == 0) == baselineFirst
                    ? await BaselineAsync(run, session.Cluster, BenchWorkload.Table, settings.Rows, workRoot, ct)
                    : await ExportAsync(run, connectionString, db, BenchWorkload.Table, settings.Workers, workRoot, ct);
                if (r.Rows != settings.Rows) throw new InvalidOperationException($"{r.Contender} exported {r.Rows:N0} rows of {settings.Rows:N0}");
                Log($"run {r.Run}: {r.Contender,-15} {r.Elapsed.TotalSeconds,6:0.00} s  {r.OutputBytes / 1e6:0.0} MB gzip ({r.CsvBytes / 1e6:0.0} MB CSV)  client CPU {r.ClientCpu.TotalSeconds:0.00} s"
                    + (r.PeakRss is { } rss ? $"  peak RSS {rss / 1e6:0.0} MB" : ""));
                results.Add(r);
            }
        }

        Console.WriteLine();
        Console.WriteLine(Render(settings, size, results, session.Elapsed, (session.LoadBefore, ProcStats.LoadAverage())));
    }

    /// <summary>psql's \copy to stdout piped into gzip -1, as an operator would export a table by hand; rows counted afterwards, untimed.</summary>
    private static async Task<ReloadRun> BaselineAsync(int run, PostgresCluster cluster, string table, long rows, string workRoot, CancellationToken ct)
    {
        var file = Path.Combine(workRoot, $"baseline-{run}.csv.gz");
        var psql = Path.Combine(PostgresCluster.FindBinDir(), "psql");
        var target = new NpgsqlConnectionStringBuilder(cluster.ConnectionStringFor("bench"));
        var environment = new Dictionary<string, string?>
        {
            ["PGHOST"] = target.Host, ["PGPORT"] = target.Port.ToString(), ["PGUSER"] = target.Username, ["PGDATABASE"] = target.Database,
        };
        var cpu = ProcStats.ChildrenCpu();
        var clock = Stopwatch.StartNew();
        var result = await ProcessRunner.RunAsync("bash",
            ["-c", $"set -o pipefail; '{psql}' -X -q -c '\\copy (select * from {table}) to stdout csv' | gzip -1 > '{file}'"],
            new RunOptions { Environment = environment, Timeout = TimeSpan.FromMinutes(30) }, ct);
        clock.Stop();
        var used = ProcStats.ChildrenCpu() - cpu;
        result.EnsureSuccess("baseline export");

        var count = await ProcessRunner.RunAsync("bash", ["-c", $"set -o pipefail; gzip -dc '{file}' | wc -lc"], new RunOptions(), ct);
        var counts = count.EnsureSuccess("baseline row count").StandardOutput.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var bytes = new FileInfo(file).Length;
        File.Delete(file);
        return new ReloadRun(Baseline, run, clock.Elapsed, long.Parse(counts[0]), bytes, long.Parse(counts[1]), used);
    }

    /// <summary>
    /// PgEgress's reload path: a temporary slot exports a snapshot, the workers import it, the replication connection
    /// closes, and TableExporter writes the table to a local-folder object store. The clock covers all of it.
    /// </summary>
    private static async Task<ReloadRun> ExportAsync(int run, string connectionString, NpgsqlDataSource db, string table, int workers,
        string workRoot, CancellationToken ct)
    {
        var store = new FileSystemObjectStore(Path.Combine(workRoot, $"store-{run}"));
        var options = new PgEgressOptions
        {
            Source = { ConnectionString = connectionString, Slot = "bench_reload" },
            WorkDirectory = Path.Combine(workRoot, "spool"),
            Reload = { Workers = workers },
        };
        var exporter = new TableExporter(options, store, new ShutdownBudget(), NullLogger<TableExporter>.Instance);
        var oid = await BenchWorkload.ScalarAsync<uint>(db, $"SELECT '{table}'::regclass::oid", ct);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        ProcStats.ResetPeakRss();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        SnapshotWorkers snapshot;
        ulong consistentLsn;
        await using (var replication = new LogicalReplicationConnection(connectionString))
        {
            await replication.Open(ct);
            var slot = await replication.CreatePgOutputReplicationSlot($"bench_reload_{run}", temporarySlot: true,
                slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
            consistentLsn = (ulong)slot.ConsistentPoint;
            snapshot = await SnapshotWorkers.OpenAsync(db, slot.SnapshotName!, workers, ct);
        }
        ExportedTable? exported = null;
        var progress = new LastProgress();
        await using (snapshot)
        {
            await exporter.ExportAsync(snapshot, [new ExportTable(run, oid, new TableName("public", table))], consistentLsn, progress,
                (_, _) => Task.FromResult(1), t =>
                {
                    exported = t;
                    return Task.CompletedTask;
                }, ct);
        }
        clock.Stop();
        var result = new ReloadRun(Contender, run, clock.Elapsed, exported!.Rows, exported.Bytes, progress.Last!.Bytes,
            Process.GetCurrentProcess().TotalProcessorTime - cpu, ProcStats.PeakRss());
        Directory.Delete(Path.Combine(workRoot, $"store-{run}"), recursive: true);
        return result;
    }

    private static string Render(ReloadSettings settings, long tableBytes, List<ReloadRun> results, TimeSpan total, (double Before, double After) load)
    {
        var baseline = Median(results, Baseline);
        var egress = Median(results, Contender);
        var text = new StringBuilder();
        text.AppendLine($"Reload: {settings.Rows:N0} rows ({tableBytes / 1e6:0.0} MB on disk); PgEgress with {settings.Workers} worker(s); "
                        + $"{Environment.ProcessorCount} cores; median of {settings.Runs} run(s) each, alternating");
        text.AppendLine();
        text.AppendLine("| contender | median s | rows/s | gzip MB | gzip MB/s | CSV MB | CSV MB/s | client CPU s | runs (s) |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var (name, median) in new[] { (Baseline, baseline), (Contender, egress) })
        {
            var runs = string.Join(" / ", results.Where(r => r.Contender == name).Select(r => r.Elapsed.TotalSeconds.ToString("0.00")));
            var s = median.Elapsed.TotalSeconds;
            text.AppendLine($"| {name} | {s:0.00} | {median.Rows / s:N0} | {median.OutputBytes / 1e6:0.0} | {median.OutputBytes / 1e6 / s:0.0} "
                            + $"| {median.CsvBytes / 1e6:0.0} | {median.CsvBytes / 1e6 / s:0.0} | {median.ClientCpu.TotalSeconds:0.00} | {runs} |");
        }
        text.AppendLine();
        text.AppendLine($"Ratio PgEgress / baseline (rows/s): {baseline.Elapsed / egress.Elapsed:0.00}");
        text.AppendLine($"PgEgress peak RSS: median run {egress.PeakRss / 1e6:0.0} MB, max {results.Where(r => r.PeakRss is not null).Max(r => r.PeakRss!.Value) / 1e6:0.0} MB");
        text.AppendLine($"Total bench time {total.TotalSeconds:0} s; machine load average (1 min) {load.Before:0.00} before, {load.After:0.00} after the runs");
        return text.ToString();
    }

    /// <summary>Keeps the latest report: a table's last report comes after all its others, with its final byte count.</summary>
    private sealed class LastProgress : IProgress<ExportProgress>
    {
        public ExportProgress? Last { get; private set; }

        public void Report(ExportProgress value) => Last = value;
    }

    private static ReloadRun Median(IEnumerable<ReloadRun> results, string contender)
    {
        var sorted = results.Where(r => r.Contender == contender).OrderBy(r => r.Elapsed).ToList();
        return sorted[(sorted.Count - 1) / 2];
    }
}
