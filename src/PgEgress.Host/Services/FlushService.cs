using PgEgress.Core.Batching;

namespace PgEgress.Host.Services;

/// <summary>Runs the aligned flush timer for the life of the process.</summary>
public sealed class FlushService(FlushSchedule schedule) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => schedule.RunAsync(stoppingToken);
}
