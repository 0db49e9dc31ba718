using Microsoft.Azure.Functions.Worker;

namespace PgEgress.Functions.Orchestrations;

/// <summary>Questions an orchestrator cannot answer itself: the configuration is I/O, read in an activity.</summary>
public sealed class OrchestrationActivities(EternalOrchestrations orchestrations)
{
    /// <returns>False when the configuration no longer names the orchestration <paramref name="instanceId"/>, so it ends.</returns>
    [Function(nameof(TargetConfigured))]
    public bool TargetConfigured([ActivityTrigger] string instanceId) => orchestrations.Names(instanceId);
}
