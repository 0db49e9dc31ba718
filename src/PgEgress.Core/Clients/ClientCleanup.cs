using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Clients;

/// <summary>
/// Runs with every flush (the Host's timer, the Functions FlushTimer, a forced flush), just before the flush deletes the
/// segments every cursor has passed: clients not seen for their TTL become expired, clients behind Clients:MaxRetention
/// become lagging-expired, and their cursors stop retaining segments. Such a client's feed answers 410 from then on;
/// it is never silently skipped ahead.
/// </summary>
public sealed class ClientCleanup(ClientStore clients, PgEgressOptions options, ILogger<ClientCleanup> logger)
{
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var ended = await clients.ExpireAsync(options.Source.Slot, options.Clients.MaxRetentionBytes, options.Clients.MaxRetentionAge, ct);
        foreach (var (id, state, reason) in ended)
            logger.LogWarning("Client {Client} is {State}: {Reason}; its cursor no longer retains staged segments", id, state, reason);
        return ended.Count;
    }
}
