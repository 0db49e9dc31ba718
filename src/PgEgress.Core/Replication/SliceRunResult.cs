namespace PgEgress.Core.Replication;

/// <summary>What a <see cref="SliceRun"/> did, summed over its slices: small enough to pass between orchestrations.</summary>
/// <param name="StartLsn">The staged position before the first slice (exclusive).</param>
/// <param name="EndLsn">End LSN of the last transaction staged by the run (= StartLsn when it staged none).</param>
/// <param name="Idle">The last slice staged nothing and the server had nothing more to send: the source is quiet.</param>
/// <param name="LastSlice">The last slice's own summary.</param>
public sealed record SliceRunResult(
    int Slices,
    int Transactions,
    long Changes,
    long Bytes,
    int ReloadMarkers,
    bool FlushRequested,
    ulong StartLsn,
    ulong EndLsn,
    bool Idle,
    DateTime StartedAt,
    TimeSpan Duration,
    SliceResult LastSlice)
{
    public static SliceRunResult Of(IReadOnlyList<SliceResult> slices, DateTime startedAt, TimeSpan duration)
    {
        var last = slices[^1];
        return new SliceRunResult(slices.Count, slices.Sum(s => s.Transactions), slices.Sum(s => s.Changes), slices.Sum(s => s.Bytes),
            slices.Sum(s => s.ReloadMarkers), slices.Any(s => s.FlushRequested), slices[0].StartLsn, slices.Max(s => s.EndLsn),
            last.Idle && !last.Behind, startedAt, duration, last);
    }
}
