using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Domain;

namespace PgEgress.Core.Verification;

/// <summary>
/// Runs the oldest waiting verification of the pipeline (claimed with SKIP LOCKED, so processes never run the same one)
/// and records its outcome. The Host's loop and the Functions app's activity both call <see cref="RunNextAsync"/>.
/// </summary>
public sealed class VerificationRunner(PgEgressOptions options, VerificationStore store, TableVerifier verifier, ILogger<VerificationRunner> logger)
{
    /// <summary>Runs one verification; returns its id, or null when none was waiting.</summary>
    public async Task<long?> RunNextAsync(CancellationToken ct)
    {
        var request = await store.ClaimAsync(options.Source.Slot, ct);
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

    /// <summary>Requests a scheduled verification of every table that is due (see <see cref="VerifySchedule"/>); returns how many.</summary>
    public async Task<int> RequestDueAsync(VerifySchedule schedule, DateTime now, CancellationToken ct)
    {
        if (!schedule.Enabled) return 0;
        var slot = options.Source.Slot;
        var latest = (await store.LatestPerTableAsync(slot, ct)).ToDictionary(v => v.Table, v => v.RequestedAt);
        var due = schedule.Due(now, await store.TablesAsync(ct), latest);
        foreach (var table in due) await store.RequestAsync(slot, TableName.ParseStored(table), "schedule", options.Health.AutoRepair, ct);
        if (due.Count > 0) logger.LogInformation("Scheduled verification of {Tables}", string.Join(", ", due));
        return due.Count;
    }
}
