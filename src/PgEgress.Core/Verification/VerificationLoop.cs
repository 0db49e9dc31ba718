using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Verification;

/// <summary>
/// The self-hosted verification runner: requests the scheduled verifications that are due, runs what is requested,
/// then looks again after a short pause (like the reload loop).
/// </summary>
public sealed class VerificationLoop(VerificationRunner runner, PgEgressOptions options, TimeProvider time, ILogger<VerificationLoop> logger)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>How often the schedule is looked at (each look reads the registry).</summary>
    public static readonly TimeSpan ScheduleInterval = TimeSpan.FromSeconds(30);

    public async Task RunAsync(CancellationToken stop)
    {
        var schedule = new VerifySchedule(options.Health);
        var nextLook = DateTime.MinValue;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var now = time.GetUtcNow().UtcDateTime;
                if (schedule.Enabled && now >= nextLook)
                {
                    nextLook = now + ScheduleInterval;
                    await runner.RequestDueAsync(schedule, now, stop);
                }
                if (await runner.RunNextAsync(stop) is not null) continue;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Verification round failed; trying again");
            }
            try
            {
                await Task.Delay(PollInterval, time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
