using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Configuration;
using PgEgress.Core.Reload;

namespace PgEgress.Functions.Reload;

/// <summary>The reload orchestration's activity: Core's <see cref="ReloadCoordinator"/>.</summary>
public sealed class ReloadActivities(PgEgressOptions options, ReloadCoordinator coordinator)
{
    /// <returns>The number of tables whose reload file was registered.</returns>
    [Function(nameof(ExportReloads))]
    public async Task<int> ExportReloads([ActivityTrigger] string pipeline, FunctionContext context)
    {
        if (pipeline != options.Source.Slot)
            throw new InvalidOperationException($"pipeline '{pipeline}' is not configured (PgEgress__Source__Slot is '{options.Source.Slot}')");
        return await coordinator.RunPendingAsync(context.CancellationToken);
    }
}
