namespace PgEgress.Bench;

/// <summary>One timed run of one contender.</summary>
/// <param name="Elapsed">Wall clock from the start of replication to the end of the change set (PgEgress: segment registered and slot acknowledged).</param>
/// <param name="ClientCpu">CPU (user + system) of the client: the pg_recvlogical process, or this process during the PgEgress run.</param>
/// <param name="WalsenderCpu">CPU of the walsender that served the run (sampled; may be slightly short).</param>
public sealed record RunResult(string Contender, int Run, TimeSpan Elapsed, TimeSpan ClientCpu, TimeSpan WalsenderCpu)
{
    /// <summary>PgEgress only: what was staged, and this process's memory during the run.</summary>
    public EgressDetails? Egress { get; init; }
}

/// <param name="Slices">Slices the consumer ran until the change set was staged.</param>
/// <param name="Segments">Staged segments (each an object in the store, registered).</param>
/// <param name="StagedBytes">Size of the staged segment objects (gzip).</param>
/// <param name="UncompressedBytes">The segments' uncompressed change bytes (SliceResult.Bytes).</param>
/// <param name="PeakManagedHeap">Highest GC.GetTotalMemory(false) seen (sampled every 20 ms).</param>
/// <param name="PeakRss">Peak resident set of the whole bench process during the run (VmHWM, reset before the run).</param>
/// <param name="Allocated">Managed bytes allocated during the run.</param>
public sealed record EgressDetails(
    int Slices, int Segments, long Changes, long StagedBytes, long UncompressedBytes,
    long PeakManagedHeap, long PeakRss, long Allocated, int Gen0, int Gen1, int Gen2)
{
    /// <summary>The flush after staging (not in the run's elapsed time): staged segments to registered batch files.</summary>
    public TimeSpan Flush { get; init; }
    public int FlushFiles { get; init; }
    public long FlushBytes { get; init; }

    /// <summary>Peak RSS through the flush as well.</summary>
    public long FlushPeakRss { get; init; }

    /// <summary>Managed bytes the flush allocated.</summary>
    public long FlushAllocated { get; init; }
}
