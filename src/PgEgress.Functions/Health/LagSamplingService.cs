using Microsoft.Extensions.Hosting;
using PgEgress.Core.Health;

namespace PgEgress.Functions.Health;

/// <summary>Samples every consumer's lag for the status page's last hour while this worker lives, as the Host does.</summary>
public sealed class LagSamplingService(LagSampling sampling) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => sampling.RunAsync(stoppingToken);
}
