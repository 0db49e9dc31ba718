using PgEgress.Core.Output;
using PgEgress.Core.Replication;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// The ingest benchmark: one throwaway cluster, one change set, decoded by pg_recvlogical and by PgEgress from
/// slots that were all created before the load (so each run decodes exactly the same transactions), runs
/// alternating, medians reported.
/// </summary>
public static class IngestBench
{
    private const long WarmupRows = 20_000;

    public static async Task RunAsync(IngestSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        var db = session.Db;
        await BenchWorkload.CreateSchemaAsync(db, ct);
        var egress = new EgressRunner(session.ConnectionString, session.WorkRoot);

        // Warm-up (untimed): JIT-compiles and tiers up the ingest path before the first timed run. Its slot and rows
        // come before the benchmark slots exist, so no benchmark run sees them.
        Log($"warm-up: PgEgress ingests {WarmupRows:N0} rows of the {BenchWorkload.WarmupTable} table");
        await egress.SetupAsync("egress_warmup", ct);
        var warmup = await BenchWorkload.LoadAsync(db, BenchWorkload.WarmupTable, WarmupRows, 1, ct);
        await PgEgressMessages.EmitAsync(db, PgEgressMessages.Flush, ct);
        await egress.RunAsync(0, db, "egress_warmup", warmup.EndLsn, WarmupRows, ct);

        // Every slot before the load: each then decodes the identical change set.
        var recvSlots = Enumerable.Range(1, settings.Runs).Select(i => $"recv_{i}").ToArray();
        var streamSlots = Enumerable.Range(1, settings.Runs).Select(i => $"recv_stream_{i}").ToArray();
        var egressSlots = Enumerable.Range(1, settings.Runs).Select(i => $"egress_{i}").ToArray();
        foreach (var slot in recvSlots.Concat(streamSlots)) await BenchWorkload.CreateSlotAsync(db, slot, ct);
        foreach (var slot in egressSlots) await egress.SetupAsync(slot, ct); // SourceSetup creates PgEgress's slot itself

        Log($"loading {settings.Rows:N0} rows into {BenchWorkload.Table} in {settings.Transactions:N0} transaction(s)");
        var load = await BenchWorkload.LoadAsync(db, BenchWorkload.Table, settings.Rows, settings.Transactions, ct);
        // A flush marker right after the change set ends PgEgress's last slice there, as POST /api/flush would,
        // instead of at the slice's 10 s time bound. pg_recvlogical stops at --endpos, before it.
        await PgEgressMessages.EmitAsync(db, PgEgressMessages.Flush, ct);
        await BenchWorkload.ExecuteAsync(db, "CHECKPOINT", ct);
        Log($"loaded in {load.LoadTime.TotalSeconds:0.0} s: WAL {PgText.Lsn(load.StartLsn)} → {PgText.Lsn(load.EndLsn)} "
            + $"({load.WalBytes / 1e6:0.0} MB){(load.EndFromWalInspect ? "" : " (end LSN approximate: pg_walinspect unavailable)")}");

        var results = new List<RunResult>();
        for (var run = 1; run <= settings.Runs; run++)
        {
            // Rotate which contender goes first, so none always runs on a warmer or cooler machine.
            for (var k = 0; k < 3; k++)
            {
                RunResult r = ((k + run) % 3) switch
                {
                    0 => await RecvLogicalRunner.RunAsync(run, db, recvSlots[run - 1], load.EndLsn, streaming: false, ct),
                    1 => await RecvLogicalRunner.RunAsync(run, db, streamSlots[run - 1], load.EndLsn, streaming: true, ct),
                    _ => await egress.RunAsync(run, db, egressSlots[run - 1], load.EndLsn, load.Rows, ct),
                };
                Log($"run {run}: {r.Contender,-14} {r.Elapsed.TotalSeconds,6:0.00} s  client CPU {r.ClientCpu.TotalSeconds:0.00} s  walsender CPU {r.WalsenderCpu.TotalSeconds:0.00} s");
                results.Add(r);
            }
        }
        var loadAfter = ProcStats.LoadAverage();

        Console.WriteLine();
        Console.WriteLine(BenchReport.Render(settings, load, results, session.Elapsed, (session.LoadBefore, loadAfter)));
    }
}
