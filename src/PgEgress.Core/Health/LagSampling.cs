using Microsoft.Extensions.Logging;

namespace PgEgress.Core.Health;

/// <summary>
/// Reads every consumer's lag once per <see cref="LagHistory.Interval"/> for the life of the process, so the status
/// page's last hour is there when someone opens it, not only from the moment they do.
/// </summary>
public sealed class LagSampling(LagReader lag, TimeProvider clock, ILogger<LagSampling> logger)
{
    public async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(LagHistory.Interval, clock);
        do
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(LagHistory.Interval);
                await lag.ReadAsync(timeout.Token);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // A gap in the sparkline says what happened; the source's own trouble is reported by /api/ready.
                logger.LogDebug("Lag sample failed: {Error}", e.Message);
            }
        } while (await timer.WaitForNextTickAsync(ct));
    }
}
