using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Verification;

/// <summary>
/// The eternal verification orchestration, one per pipeline, like the reload one: each generation runs the
/// RunVerification activity (the due scheduled requests, then the oldest waiting verification), waits on a durable
/// timer (the reload orchestration's idle delay) when none was waiting, and continues as new.
/// </summary>
public static class VerifyOrchestrator
{
    public static string InstanceIdFor(string pipeline) => $"{EternalOrchestrations.InstancePrefix}verify-{pipeline}";

    [Function(nameof(VerifyOrchestrator))]
    public static async Task Run([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var input = context.GetInput<TargetInput>()
            ?? throw new InvalidOperationException($"{nameof(VerifyOrchestrator)} was started without its pipeline");
        var retry = (input.Timing ?? DurableTiming.Default).ActivityRetry();
        var ran = false;
        try
        {
            ran = await context.CallActivityAsync<bool>(nameof(VerifyActivities.RunVerification), input.Target, retry);
        }
        catch (TaskFailedException)
        {
            if (!await context.CallActivityAsync<bool>(nameof(OrchestrationActivities.TargetConfigured), context.InstanceId, retry))
                return;
            // A failed verification is recorded as failed by the runner; the next generation goes on with the next one.
        }
        if (!ran) await context.CreateTimer(context.CurrentUtcDateTime.Add(input.IdleDelay ?? Reload.ReloadOrchestrator.DefaultIdleDelay), CancellationToken.None);
        context.ContinueAsNew(input);
    }
}
