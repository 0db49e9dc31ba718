using PgEgress.Core.Reload;

namespace PgEgress.Host.Services;

/// <summary>Runs the reload loop (initial load and reload requests) for the life of the process.</summary>
public sealed class ReloadService(ReloadLoop loop) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop.RunAsync(stoppingToken);
}
