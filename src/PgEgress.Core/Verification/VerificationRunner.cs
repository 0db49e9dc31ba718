using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Verification;

/// <summary>
/// Runs the oldest waiting verification of the pipeline (claimed with SKIP LOCKED, so processes never run the same one)
/// and records its outcome. The Host's loop and the Functions app's activity both call <see cref="RunNextAsync"/>.
/// </summary>
public sealed class VerificationRunner(SourceOptions source, VerificationStore store, TableVerifier verifier, ILogger<VerificationRunner> logger)
{
    /// <summary>Runs one verification; returns its id, or null when none was waiting.</summary>
    public async Task<long?> RunNextAsync(CancellationToken ct)
    {
        var request = await store.ClaimAsync(source.Slot, ct);
        if (request is null) return null;
        var clock = Stopwatch.StartNew();
        try
        {
            var outcome = await verifier.RunAsync(request, ct);
            await store.FinishAsync(request.Id, outcome, clock.Elapsed, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            logger.LogError(e, "Verification {Id} of {Table} failed", request.Id, request.Table);
            await store.FailAsync(request.Id, e.Message, clock.Elapsed, ct);
        }
        return request.Id;
    }
}
