using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Registry;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;

namespace PgEgress.Bench;

/// <summary>
/// PgEgress's real ingest path, composed as the Host composes it (AddPgEgress): SourceSetup, then
/// SliceConsumer.ConsumeSliceAsync slice after slice into a folder object store on local disk, until the staged
/// LSN reaches the end of the change set. Each slice uploads its segment, registers it and acknowledges the slot
/// before it returns, so the clock stops with the data durably staged.
/// </summary>
public sealed class EgressRunner(string connectionString, string workRoot)
{
    public const string Contender = "PgEgress";

    private PgEgressOptions OptionsFor(string slot) => new()
    {
        Source = { ConnectionString = connectionString, Publication = BenchWorkload.Publication, Slot = slot },
        Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(workRoot, "store-" + slot) },
        WorkDirectory = Path.Combine(workRoot, "spool-" + slot),
        // No initial load: its pending reload would hold the table's changes back from the end-to-end flush.
        Reload = { InitialLoad = false },
        // Slice bounds stay at their defaults (10 s, 64 MiB, 10 000 transactions): what the Host runs with.
    };

    private static ServiceProvider Compose(PgEgressOptions options) => new ServiceCollection()
        .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
        .AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot)
        .BuildServiceProvider();

    /// <summary>Runs SourceSetup, which creates the slot (and, the first time, the registry).</summary>
    public async Task SetupAsync(string slot, CancellationToken ct)
    {
        await using var services = Compose(OptionsFor(slot));
        await services.GetRequiredService<SourceSetup>().RunAsync(ct);
        await services.GetRequiredService<IObjectStore>().EnsureReadyAsync(ct);
    }

    public async Task<RunResult> RunAsync(int run, NpgsqlDataSource db, string slot, ulong endLsn, long expectedChanges, CancellationToken ct)
    {
        var options = OptionsFor(slot);
        await using var services = Compose(options);
        // Setup is not timed: it checks the server and finds the publication and slot already there.
        await services.GetRequiredService<SourceSetup>().RunAsync(ct);
        await services.GetRequiredService<IObjectStore>().EnsureReadyAsync(ct);
        var consumer = services.GetRequiredService<SliceConsumer>();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        ProcStats.ResetPeakRss();
        var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        await using var sampler = RunSampler.Start(db, slot);

        var (slices, segments, changes, uncompressed) = (0, 0, 0L, 0L);
        var paths = new List<string>();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var slice = await consumer.ConsumeSliceAsync(ct);
            slices++;
            changes += slice.Changes;
            uncompressed += slice.Bytes;
            if (slice.Segment is not null)
            {
                segments++;
                paths.Add(slice.Segment);
            }
            if (slice.EndLsn >= endLsn) break;
            if (clock.Elapsed > TimeSpan.FromMinutes(10))
                throw new TimeoutException($"PgEgress staged only up to {PgText.Lsn(slice.EndLsn)} of {PgText.Lsn(endLsn)} in 10 minutes");
        }
        clock.Stop();
        var stagedPeakRss = ProcStats.PeakRss();
        var stagedAllocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var stagedCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        var stagedBytes = paths.Sum(p => new FileInfo(Path.Combine(options.Storage.Path, p)).Length); // before the flush deletes them

        // End to end: the flush that turns the staged change set into registered batch files, as a window's end would.
        var flushClock = Stopwatch.StartNew();
        var flush = await services.GetRequiredService<BatchFlusher>().FlushAsync(DateTime.UtcNow, ct);
        flushClock.Stop();
        if (flush.Failed.Count > 0 || flush.Files.Sum(f => f.Rows) != expectedChanges)
            throw new InvalidOperationException($"the flush wrote {flush.Files.Sum(f => f.Rows)} rows of {expectedChanges}; failed: {string.Join("; ", flush.Failed.Select(f => f.Error))}");

        var details = new EgressDetails(
            slices, segments, changes,
            StagedBytes: stagedBytes,
            UncompressedBytes: uncompressed,
            PeakManagedHeap: sampler.PeakManagedHeap,
            PeakRss: stagedPeakRss,
            Allocated: stagedAllocated,
            Gen0: GC.CollectionCount(0) - gen0, Gen1: GC.CollectionCount(1) - gen1, Gen2: GC.CollectionCount(2) - gen2)
        {
            Flush = flushClock.Elapsed,
            FlushFiles = flush.Files.Count,
            FlushBytes = flush.Files.Sum(f => f.Bytes),
            FlushPeakRss = ProcStats.PeakRss(),
            FlushAllocated = GC.GetTotalAllocatedBytes(precise: true) - allocated - stagedAllocated,
        };
        var result = new RunResult(Contender, run, clock.Elapsed, stagedCpu, sampler.WalsenderCpu)
        {
            Egress = details,
        };
        await consumer.DisposeAsync();

        if (changes != expectedChanges)
            throw new InvalidOperationException($"PgEgress staged {changes} changes; the load made {expectedChanges}");
        var staged = await services.GetRequiredService<RegistryStore>().GetStagedLsnAsync(slot, ct);
        if (staged != endLsn)
            throw new InvalidOperationException($"PgEgress's staged LSN is {PgText.Lsn(staged)}; the change set ends at {PgText.Lsn(endLsn)}");
        return result;
    }
}
