using PgEgress.Core.Configuration;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Reload;

namespace PgEgress.Functions.Orchestrations;

/// <summary>One eternal orchestration: its orchestrator function, fixed instance id and first input.</summary>
public sealed record EternalOrchestration(string Orchestrator, string InstanceId, object Input);

/// <summary>
/// The eternal orchestrations this app keeps running, each a singleton under a fixed instance id: the ingest of the
/// configured source slot and its reload runner. Each sink and client feed, when they exist, adds its orchestrator here
/// (one per sink, reading from its own cursor); the watchdog then keeps it running like the ingest.
/// </summary>
public sealed class EternalOrchestrations(PgEgressOptions options)
{
    /// <summary>The ingest; an idle slice is followed by a pause as long as a slice's time bound.</summary>
    public EternalOrchestration Ingest => new(
        nameof(IngestOrchestrator),
        IngestOrchestrator.InstanceIdFor(options.Source.Slot),
        IngestState.Start(options.Source.Slot, options.Slice.MaxDuration));

    /// <summary>Exports of reloads and of the initial load, for the same pipeline.</summary>
    public EternalOrchestration Reload => new(
        nameof(ReloadOrchestrator),
        ReloadOrchestrator.InstanceIdFor(options.Source.Slot),
        options.Source.Slot);

    public IReadOnlyList<EternalOrchestration> All => [Ingest, Reload];
}
