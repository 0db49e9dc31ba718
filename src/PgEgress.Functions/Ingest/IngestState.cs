using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Replication;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Ingest;

/// <summary>
/// What one generation of the ingest orchestrator hands to the next through ContinueAsNew: a few counters and the
/// last slice's summary (LSN range, counts), never the data. Built only from activity results and the orchestration's
/// clock, so replays are deterministic.
/// </summary>
/// <param name="Pipeline">The pipeline (today: the source slot) whose slices this orchestration consumes.</param>
/// <param name="IdleDelay">The durable-timer pause after a slice that staged nothing.</param>
/// <param name="Timing">Retries and the failure back-off; null in an instance started before they were settings (the defaults).</param>
/// <param name="Prepared">The source and store were made ready (<see cref="IngestActivities.PrepareSource"/>) in this run.</param>
/// <param name="LastErrorKind"><c>transient</c> or <c>permanent</c> (<see cref="FailureClassifier"/>), of <paramref name="LastError"/>; null in an instance started before it existed.</param>
public sealed record IngestState(
    string Pipeline,
    TimeSpan IdleDelay,
    bool Prepared,
    long Generation,
    long Slices,
    long IdleSlices,
    long Transactions,
    long Changes,
    long Bytes,
    SliceStatus? LastSlice,
    string? LastError,
    DateTime? LastErrorAt,
    DurableTiming? Timing = null,
    string? LastErrorKind = null)
{
    public static IngestState Start(string pipeline, TimeSpan idleDelay, DurableTiming timing) =>
        new(pipeline, idleDelay, false, 0, 0, 0, 0, 0, 0, null, null, null, timing);

    /// <summary>After a ConsumeSlice run: its slices are added up; a run ends on its only idle slice, if any.</summary>
    public IngestState After(SliceRunResult run) => this with
    {
        Generation = Generation + 1,
        Slices = Slices + run.Slices,
        IdleSlices = run.Idle ? IdleSlices + 1 : IdleSlices,
        Transactions = Transactions + run.Transactions,
        Changes = Changes + run.Changes,
        Bytes = Bytes + run.Bytes,
        LastSlice = SliceStatus.From(run.LastSlice),
        LastError = null,
        LastErrorAt = null,
        LastErrorKind = null,
    };

    /// <summary>After the retries gave up: prepare again next generation (its checks say what is wrong in one line).</summary>
    public IngestState AfterFailure(string error, FailureKind kind, DateTime at) => this with
    {
        Generation = Generation + 1,
        Prepared = false,
        LastError = error,
        LastErrorAt = at,
        LastErrorKind = FailureClassifier.Label(kind),
    };
}
