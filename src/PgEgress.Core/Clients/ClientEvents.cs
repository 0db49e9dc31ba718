using System.Text;
using System.Text.Json;
using PgEgress.Core.Api;
using PgEgress.Core.Configuration;
using PgEgress.Core.Metrics;

namespace PgEgress.Core.Clients;

/// <summary>
/// A client's notification stream as Server-Sent Events: an event (<c>id:</c> the offset, <c>event: changes</c>, the
/// <see cref="ClientNotification"/> as data) each time changes for its tables are staged, a keep-alive comment when
/// nothing was, and an end after <see cref="Session"/> so that a proxy or the Functions front end (about 230 s) never
/// cuts it first; the client reconnects with <c>Last-Event-ID</c> and misses nothing. Written by hand rather than with
/// TypedResults.ServerSentEvents because SseItem has no comment form for the keep-alives.
/// </summary>
public sealed class ClientEvents(ClientFeed feed, ClientStore clients, StagedWatch watch, PgEgressOptions options, PgEgressMeter meter)
{
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);
    public static readonly TimeSpan Session = TimeSpan.FromMinutes(3);

    public async Task WriteAsync(ClientRecord client, FeedOffset from, Stream output, CancellationToken ct)
    {
        var slot = options.Source.Slot;
        var end = DateTime.UtcNow + Session;
        var offset = from;
        await WriteAsync(output, "retry: 2000\n\n", ct);
        while (!ct.IsCancellationRequested && DateTime.UtcNow < end)
        {
            var (next, changes, transactions) = await feed.CountAsync(client, offset, ct);
            if (changes > 0)
            {
                var data = JsonSerializer.Serialize(new ClientNotification(client.Id.ToString(), next.ToString(), changes, transactions), ApiJson.Options);
                await WriteAsync(output, $"id: {next}\nevent: changes\ndata: {data}\n\n", ct);
                meter.ClientNotified();
            }
            offset = next;
            var wait = Min(KeepAlive, end - DateTime.UtcNow);
            if (wait <= TimeSpan.Zero || await watch.WaitPastAsync(offset.Lsn, wait, ct)) continue;
            // Nothing staged for a while: a comment keeps proxies from closing the connection; the client is still there.
            await WriteAsync(output, ": keep-alive\n\n", ct);
            await clients.TouchAsync(slot, client.Id, ct);
            if (await clients.GetAsync(slot, client.Id, ct) is not { IsActive: true }) return;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static async Task WriteAsync(Stream output, string text, CancellationToken ct)
    {
        await output.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        await output.FlushAsync(ct);
    }
}
