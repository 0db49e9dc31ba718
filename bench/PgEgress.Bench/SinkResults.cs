namespace PgEgress.Bench;

/// <summary>One timed delivery of the whole staged change set to the receiver.</summary>
/// <param name="Workers">K: PgEgress's sink workers, or the baseline's concurrent senders.</param>
/// <param name="Batch">Events per request (BatchMaxEvents; the baseline's bodies hold as many).</param>
/// <param name="Elapsed">From the start of the run until the request that brought the last missing event id arrived.</param>
/// <param name="Cpu">CPU of the whole process (senders and receiver) during the run.</param>
public sealed record SinkRun(string Contender, int Workers, int Batch, int Run, TimeSpan Elapsed, long Events, long Requests, long Repeats, TimeSpan Cpu)
{
    public double EventsPerSecond => Events / Elapsed.TotalSeconds;
}

/// <summary>How the throughput part's change set was made and staged.</summary>
/// <param name="ReadFloor">One pass of EventSinkRunner's reader over the staged log (read, filter, partition hash), no HTTP.</param>
/// <param name="BuildFloor">The same pass building each event's request (CloudEventsEndpoint.Build), no HTTP.</param>
public sealed record SinkStaging(LoadedChanges Load, TimeSpan StageTime, int Slices, int Segments, long StagedChanges, long BodyBytes, int BatchBodies)
{
    public TimeSpan ReadFloor { get; init; }
    public TimeSpan BuildFloor { get; init; }
}

/// <summary>Percentiles of one latency, over the events after the warm-up.</summary>
public sealed record LatencyStats(TimeSpan P50, TimeSpan P95, TimeSpan P99, TimeSpan Max, TimeSpan Min)
{
    public static LatencyStats Of(List<TimeSpan> values)
    {
        values.Sort();
        TimeSpan At(double p) => values[Math.Clamp((int)Math.Ceiling(p * values.Count) - 1, 0, values.Count - 1)];
        return new LatencyStats(At(0.50), At(0.95), At(0.99), values[^1], values[0]);
    }
}

/// <param name="TargetRate">--rate: changes per second the writer was scheduled to insert.</param>
/// <param name="AchievedRate">Rows inserted / the writer's wall time (first transaction to last commit).</param>
/// <param name="Counted">Events after the warm-up that the percentiles cover.</param>
/// <param name="Staged">Commit → the slice that staged the event returned (segment uploaded, registered, slot acknowledged).</param>
/// <param name="Delivered">Commit → the receiver had the request carrying the event.</param>
/// <param name="AfterStaged">Slice returned → the receiver had the event.</param>
/// <param name="LateTransactions">Transactions the writer started more than one interval behind its schedule.</param>
public sealed record LatencyResult(
    int TargetRate, double AchievedRate, int RowsPerTransaction, TimeSpan Interval, TimeSpan WriterTime, long Rows, long Counted,
    TimeSpan SliceMaxDuration, int Workers, int Batch, TimeSpan BatchMaxWait,
    LatencyStats Staged, LatencyStats Delivered, LatencyStats AfterStaged,
    int Slices, TimeSpan SliceMedian, long Requests, long Repeats, int LateTransactions, TimeSpan Cpu);
