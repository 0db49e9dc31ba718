using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Configuration;
using PgEgress.Core.Verification;

namespace PgEgress.Functions.Verification;

/// <summary>The verification orchestration's activity: Core's <see cref="VerificationRunner"/> (the schedule, then one verification).</summary>
public sealed class VerifyActivities(PgEgressOptions options, VerificationRunner runner, TimeProvider time)
{
    /// <returns>Whether a verification ran (false: none was waiting).</returns>
    [Function(nameof(RunVerification))]
    public async Task<bool> RunVerification([ActivityTrigger] string pipeline, FunctionContext context)
    {
        if (pipeline != options.Source.Slot)
            throw new InvalidOperationException($"pipeline '{pipeline}' is not configured (PgEgress__Source__Slot is '{options.Source.Slot}')");
        await runner.RequestDueAsync(new VerifySchedule(options.Health), time.GetUtcNow().UtcDateTime, context.CancellationToken);
        return await runner.RunNextAsync(context.CancellationToken) is not null;
    }
}
