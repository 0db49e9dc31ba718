using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace PgEgress.Functions.Tests.Durable.AzureStorage;

/// <summary>
/// A Durable client through which another starter wins the race for <paramref name="instanceId"/>: the first time
/// the caller starts that instance, the rival starts it first (after the caller looked it up, before its own start
/// reaches the task hub). Everything else goes straight to <paramref name="inner"/>.
/// </summary>
internal sealed class RivalStartClient(DurableTaskClient inner, string instanceId) : DurableTaskClient(inner.Name)
{
    private int _raced;

    /// <summary>The rival's start, once it ran.</summary>
    public Task<string>? Rival { get; private set; }

    public override async Task<string> ScheduleNewOrchestrationInstanceAsync(TaskName orchestratorName, object? input = null,
        StartOrchestrationOptions? options = null, CancellationToken cancellation = default)
    {
        if (options?.InstanceId == instanceId && Interlocked.Exchange(ref _raced, 1) == 0)
        {
            Rival = inner.ScheduleNewOrchestrationInstanceAsync(orchestratorName, input, options, cancellation);
            await Rival;
        }
        return await inner.ScheduleNewOrchestrationInstanceAsync(orchestratorName, input, options, cancellation);
    }

    public override Task<OrchestrationMetadata?> GetInstancesAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default) =>
        inner.GetInstancesAsync(instanceId, getInputsAndOutputs, cancellation);

    public override AsyncPageable<OrchestrationMetadata> GetAllInstancesAsync(OrchestrationQuery? filter = null) => inner.GetAllInstancesAsync(filter);

    public override Task TerminateInstanceAsync(string instanceId, TerminateInstanceOptions? options = null, CancellationToken cancellation = default) =>
        inner.TerminateInstanceAsync(instanceId, options, cancellation);

    public override Task<OrchestrationMetadata> WaitForInstanceCompletionAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default) =>
        inner.WaitForInstanceCompletionAsync(instanceId, getInputsAndOutputs, cancellation);

    public override Task<OrchestrationMetadata> WaitForInstanceStartAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default) =>
        inner.WaitForInstanceStartAsync(instanceId, getInputsAndOutputs, cancellation);

    public override Task RaiseEventAsync(string instanceId, string eventName, object? eventPayload = null, CancellationToken cancellation = default) =>
        inner.RaiseEventAsync(instanceId, eventName, eventPayload, cancellation);

    public override Task SuspendInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellation = default) =>
        inner.SuspendInstanceAsync(instanceId, reason, cancellation);

    public override Task ResumeInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellation = default) =>
        inner.ResumeInstanceAsync(instanceId, reason, cancellation);

    public override ValueTask DisposeAsync() => default;
}
