using Microsoft.Extensions.Logging;

namespace PgEgress.Core.Storage;

/// <summary>
/// Removes what killed uploads left in the store (<see cref="IObjectStore.SweepLeftoversAsync"/>): at start and after
/// each flush, off the ingest path, since walking a large output folder takes a while.
/// </summary>
public static class LeftoverSweep
{
    public static async Task RunAsync(IObjectStore store, ILogger logger, CancellationToken ct)
    {
        if (await store.SweepLeftoversAsync(ct) is var leftovers and > 0)
            logger.LogInformation("Deleted {Count} temporary file(s) that interrupted uploads left in {Store}", leftovers, store.Describe);
    }
}
