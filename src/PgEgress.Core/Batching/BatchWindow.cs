namespace PgEgress.Core.Batching;

/// <summary>
/// The time window a flush covers: from the previous flush's cut to this one's. Scheduled flushes cut at the
/// aligned boundaries, so batches are the aligned windows; a forced flush cuts early and the next window starts there.
/// Cuts have one-second resolution (the batch name's) and strictly increase, so no two flushes share a batch name.
/// </summary>
public readonly record struct BatchWindow(DateTime Start, DateTime Cut)
{
    public static DateTime AlignDown(DateTime utc, TimeSpan interval) =>
        new(utc.Ticks - utc.Ticks % interval.Ticks, DateTimeKind.Utc);

    public static DateTime NextBoundary(DateTime utc, TimeSpan interval) => AlignDown(utc, interval) + interval;

    public static BatchWindow For(DateTime requestedCut, DateTime? previousCut, TimeSpan interval)
    {
        var cut = new DateTime(requestedCut.Ticks - requestedCut.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        if (previousCut is { } prev && cut <= prev) cut = prev.AddSeconds(1);
        var start = previousCut ?? AlignDown(cut.AddTicks(-1), interval);
        return new BatchWindow(DateTime.SpecifyKind(start, DateTimeKind.Utc), cut);
    }
}
