using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace PgEgress.Functions.Orchestrations;

public enum StartOutcome
{
    Started,
    AlreadyRunning,
    /// <summary>Stopped by an operator (terminated); left alone unless a start asks for it.</summary>
    Stopped,
}

/// <summary>Starts and stops eternal orchestrations by their fixed instance id.</summary>
public static class OrchestrationStarter
{
    /// <summary>
    /// Starts <paramref name="orchestration"/> unless its instance is running, pending or suspended. A terminated
    /// instance (an operator's stop) is restarted only when <paramref name="restartStopped"/>. Two starters racing
    /// (the watchdog and an HTTP start) are fine: the loser's "already exists" counts as running.
    /// </summary>
    public static async Task<StartOutcome> EnsureRunningAsync(DurableTaskClient client, EternalOrchestration orchestration, bool restartStopped, CancellationToken ct)
    {
        var existing = await client.GetInstanceAsync(orchestration.InstanceId, false, ct);
        switch (existing?.RuntimeStatus)
        {
            case OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Pending or OrchestrationRuntimeStatus.Suspended:
                return StartOutcome.AlreadyRunning;
            case OrchestrationRuntimeStatus.Terminated when !restartStopped:
                return StartOutcome.Stopped;
        }
        try
        {
            await client.ScheduleNewOrchestrationInstanceAsync(orchestration.Orchestrator, orchestration.Input,
                new StartOrchestrationOptions { InstanceId = orchestration.InstanceId }, ct);
            return StartOutcome.Started;
        }
        catch (Exception e) when (IsAlreadyExists(e))
        {
            return StartOutcome.AlreadyRunning;
        }
    }

    /// <returns>True when a running, pending or suspended instance was terminated.</returns>
    public static async Task<bool> StopAsync(DurableTaskClient client, EternalOrchestration orchestration, string reason, CancellationToken ct)
    {
        var existing = await client.GetInstanceAsync(orchestration.InstanceId, false, ct);
        if (existing?.RuntimeStatus is not (OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Pending or OrchestrationRuntimeStatus.Suspended))
            return false;
        await client.TerminateInstanceAsync(orchestration.InstanceId, (object)reason, ct);
        return true;
    }

    /// <summary>
    /// The host refuses a second start of a running instance id: newer clients throw
    /// DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException, older ones a Grpc.Core.RpcException with
    /// StatusCode AlreadyExists (shared/reference/azure-functions.md, gotcha #3). Matched by name, so this compiles
    /// whichever client version the extension brings.
    /// </summary>
    private static bool IsAlreadyExists(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            var type = x.GetType();
            if (type.Name == "OrchestrationAlreadyExistsException") return true;
            if (type.FullName == "Grpc.Core.RpcException" && type.GetProperty("StatusCode")?.GetValue(x)?.ToString() == "AlreadyExists") return true;
        }
        return false;
    }
}
