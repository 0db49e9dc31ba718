using Microsoft.Extensions.Logging;

namespace PgEgress.Core.Verification;

/// <summary>The self-hosted verification runner: runs what is requested, then looks again after a short pause (like the reload loop).</summary>
public sealed class VerificationLoop(VerificationRunner runner, ILogger<VerificationLoop> logger)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
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
                await Task.Delay(PollInterval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
