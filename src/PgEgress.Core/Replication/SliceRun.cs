using System.Diagnostics;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Replication;

/// <summary>
/// Several slices on one consumer, and so on one replication session: the walsender decodes the WAL once instead of
/// again from the slot's restart_lsn at every slice (an open long transaction made each reconnect re-decode all of
/// it). Each slice is staged, registered and acknowledged on its own, as a lone slice is. The run ends when the next
/// slice might outlast <see cref="SliceOptions.ActivityBudget"/>; after an idle slice (the caller's idle pause follows)
/// unless the server was still decoding its way to the present (a new walsender re-reading a long open transaction
/// from restart_lsn: ending there would start that reading again in the next session); or when stopped, after the
/// slice in progress has staged what committed.
/// </summary>
public static class SliceRun
{
    /// <param name="sliceDone">Told of each slice once it is staged and acknowledged (the process's progress).</param>
    public static async Task<SliceRunResult> RunAsync(SliceConsumer consumer, SliceOptions options, Action<SliceResult> sliceDone, CancellationToken stop)
    {
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var slices = new List<SliceResult>();
        do
        {
            var slice = await consumer.ConsumeSliceAsync(stop);
            sliceDone(slice);
            slices.Add(slice);
            if (slice.Idle && !slice.Behind) break;
        }
        // A slice runs at least MaxDuration when there is work: start one only if it fits in what is left.
        while (!stop.IsCancellationRequested && clock.Elapsed + options.MaxDuration <= options.ActivityBudget);
        return SliceRunResult.Of(slices, started, clock.Elapsed);
    }
}
