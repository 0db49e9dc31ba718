using PgEgress.Core.Replication;

namespace PgEgress.Host.Services;

/// <summary>Runs the ingest loop for the life of the process; stopping ends the current slice cleanly.</summary>
public sealed class IngestService(IngestLoop loop) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop.RunAsync(stoppingToken);
}
