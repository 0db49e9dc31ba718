using PgEgress.Core.Verification;

namespace PgEgress.Host.Services;

/// <summary>Runs the verification loop (requested comparisons of a table with its files) for the life of the process.</summary>
public sealed class VerificationService(VerificationLoop loop) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop.RunAsync(stoppingToken);
}
