using PgEgress.Core.Configuration;
using PgEgress.Core.Sinks;

namespace PgEgress.Host.Services;

/// <summary>Runs a delivery loop per enabled sink for the life of the process.</summary>
public sealed class SinkService(SinkRunners sinks, HealthOptions health, ILoggerFactory loggers) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(sinks.Names.Select(name =>
            new SinkLoop(sinks.For(name)!, health, loggers.CreateLogger($"PgEgress.Sinks.{name}")).RunAsync(stoppingToken)));
}
