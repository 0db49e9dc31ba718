using PgEgress.Core.Health;

namespace PgEgress.Host.Services;

/// <summary>Samples every consumer's lag for the status page's last hour, for the life of the process.</summary>
public sealed class LagSamplingService(LagSampling sampling) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => sampling.RunAsync(stoppingToken);
}
