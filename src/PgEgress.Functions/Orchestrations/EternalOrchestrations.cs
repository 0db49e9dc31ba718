using PgEgress.Core.Configuration;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Reload;
using PgEgress.Functions.Sinks;
using PgEgress.Functions.Verification;

namespace PgEgress.Functions.Orchestrations;

/// <summary>One eternal orchestration: its orchestrator function, fixed instance id and first input.</summary>
public sealed record EternalOrchestration(string Orchestrator, string InstanceId, object Input);

/// <summary>
/// The eternal orchestrations this app keeps running, each a singleton under a fixed instance id: the ingest of the
/// configured source slot, its reload runner, and one delivery orchestration per enabled sink (each from its own
/// cursor); the watchdog keeps them all running.
/// </summary>
public sealed class EternalOrchestrations(PgEgressOptions options)
{
    /// <summary>Retries and back-off as the settings say now: what an orchestration starting now runs with until it is restarted.</summary>
    private DurableTiming Timing => DurableTiming.From(options.Durable);

    /// <summary>The ingest; an idle slice is followed by a pause as long as a slice's time bound.</summary>
    public EternalOrchestration Ingest => new(
        nameof(IngestOrchestrator),
        IngestOrchestrator.InstanceIdFor(options.Source.Slot),
        IngestState.Start(options.Source.Slot, options.Slice.MaxDuration, Timing));

    /// <summary>Exports of reloads and of the initial load, for the same pipeline.</summary>
    public EternalOrchestration Reload => new(
        nameof(ReloadOrchestrator),
        ReloadOrchestrator.InstanceIdFor(options.Source.Slot),
        new TargetInput(options.Source.Slot, options.Durable.ReloadIdleDelay, Timing));

    /// <summary>Verifications (requested and scheduled), for the same pipeline; idle like the reload runner.</summary>
    public EternalOrchestration Verify => new(
        nameof(VerifyOrchestrator),
        VerifyOrchestrator.InstanceIdFor(options.Source.Slot),
        new TargetInput(options.Source.Slot, options.Durable.ReloadIdleDelay, Timing));

    public IEnumerable<EternalOrchestration> Sinks => options.Sinks.Where(s => s.Value.Enabled).OrderBy(s => s.Key, StringComparer.Ordinal)
        .Select(s => new EternalOrchestration(nameof(SinkOrchestrator), SinkOrchestrator.InstanceIdFor(options.Source.Slot, s.Key),
            new TargetInput(s.Key, options.Durable.SinkIdleDelay, Timing)));

    public IReadOnlyList<EternalOrchestration> All => [Ingest, Reload, Verify, .. Sinks];

    /// <summary>Every instance id this app gives its orchestrations starts with this (one app per task hub).</summary>
    public const string InstancePrefix = "pgegress-";

    /// <summary>
    /// Whether the configuration still names <paramref name="instanceId"/>. An orchestration started under an earlier
    /// configuration (another slot, a sink since removed or disabled) has nothing left to run against.
    /// </summary>
    public bool Names(string instanceId) => All.Any(o => o.InstanceId == instanceId);

    /// <summary>Those of <paramref name="instanceIds"/> that are this app's and that the configuration no longer names.</summary>
    public IReadOnlyList<string> Orphans(IEnumerable<string> instanceIds)
    {
        var named = All.Select(o => o.InstanceId).ToHashSet(StringComparer.Ordinal);
        return [.. instanceIds.Where(id => id.StartsWith(InstancePrefix, StringComparison.Ordinal) && !named.Contains(id))];
    }
}
