using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Reload;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Reload;

/// <summary>The reload orchestration's activity: Core's <see cref="ReloadCoordinator"/>.</summary>
public sealed class ReloadActivities(PgEgressOptions options, ReloadCoordinator coordinator, IngestProgress progress, ComponentFailures failures)
{
    /// <returns>The number of tables whose reload file was registered.</returns>
    [Function(nameof(ExportReloads))]
    public async Task<int> ExportReloads([ActivityTrigger] string pipeline, FunctionContext context)
    {
        if (pipeline != options.Source.Slot)
            throw new InvalidOperationException($"pipeline '{pipeline}' is not configured (PgEgress__Source__Slot is '{options.Source.Slot}')");
        try
        {
            var exported = await coordinator.RunPendingAsync(context.CancellationToken);
            failures.Succeeded(ReloadLoop.Component);
            return exported;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            progress.Failed(e, ReloadLoop.Component);
            if (PermanentFailureException.For(e) is { } permanent) throw permanent;
            throw;
        }
    }
}
