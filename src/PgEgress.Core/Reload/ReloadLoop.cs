using Microsoft.Extensions.Logging;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Reload;

/// <summary>
/// The self-hosted reload runner: exports whatever is pending, then looks again after a short pause. Requests reach it
/// through the registry (the consumer records each marker's position with its segment), so a request made through
/// SQL, a COMMENT or another process is picked up the same way as one made through this process's API.
/// </summary>
public sealed class ReloadLoop(ReloadCoordinator coordinator, IngestProgress progress, ComponentFailures failures, ILogger<ReloadLoop> logger)
{
    /// <summary>The round itself (the registry, the temporary slot); each table's export is <c>reload:{table}</c>.</summary>
    public const string Component = "reload";

    /// <summary>How often the registry is asked for pending exports when the last round found none.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var exported = await coordinator.RunPendingAsync(stop);
                failures.Succeeded(Component);
                if (exported > 0) continue;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (progress.Failed(e, Component) || FailureClassifier.Classify(e) == FailureKind.Transient)
                    logger.LogError(e, "Reload round failed; trying again");
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
