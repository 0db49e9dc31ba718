using System.Text.Json;
using PgEgress.Core.Configuration;
using PgEgress.Core.Sinks;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Clients;

/// <summary>
/// A client's view of the staged log: the transactions after an offset, only the rows its filter accepts, in the change
/// shape of the webhook events (<see cref="ChangeJson"/>). Reads never move the client's cursor; the same offset always
/// gives the same records while they are staged.
/// </summary>
public sealed class ClientFeed(StagedLog log, PgEgressOptions options)
{
    /// <summary>Buffered in memory up to this, then in a temporary file under the work directory.</summary>
    private const int PageMemoryLimit = 4 << 20;

    public static SinkFilter FilterOf(ClientRecord client) =>
        new(new SinkOptions { Tables = [.. client.Tables], Operations = [.. client.Operations] });

    /// <summary>
    /// Reads whole transactions after <paramref name="after"/> until the page holds at least <paramref name="limit"/>
    /// changes (a transaction is never cut, so a page may hold more) or the staged log ends. <c>next</c> is the end of
    /// the last transaction read, also when the filter took nothing from it, so a client does not scan it again.
    /// </summary>
    public async Task<FeedPage> ReadAsync(ClientRecord client, FeedOffset after, int limit, FeedFormat format, CancellationToken ct)
    {
        var filter = FilterOf(client);
        var slot = options.Source.Slot;
        var body = new SpillBuffer(Path.Combine(options.WorkDirectory, "feed"), PageMemoryLimit);
        try
        {
            await using var json = new Utf8JsonWriter(body);
            if (format == FeedFormat.Json)
            {
                json.WriteStartObject();
                json.WriteStartArray("changes");
            }
            var changes = 0;
            var last = await log.ReadAsync(slot, after.Lsn, (_, events) =>
            {
                var taken = 0;
                foreach (var e in events)
                {
                    if (!filter.Accepts(e.Row)) continue;
                    ChangeJson.Write(json, e, slot);
                    if (format == FeedFormat.NdJson)
                    {
                        json.Flush();
                        body.WriteByte((byte)'\n');
                        json.Reset(body);
                    }
                    else if (json.BytesPending > 1 << 16) json.Flush();
                    taken++;
                }
                changes += taken;
                return Task.FromResult(changes < limit);
            }, ct);
            var next = new FeedOffset(last);
            if (format == FeedFormat.Json)
            {
                json.WriteEndArray();
                json.WriteString("next", next.ToString());
                json.WriteEndObject();
            }
            await json.FlushAsync(ct);
            return new FeedPage(body, format, next, changes);
        }
        catch
        {
            await body.DisposeAsync();
            throw;
        }
    }

    /// <summary>How many changes and transactions for the client were staged after <paramref name="after"/>, and where they end (for notifications).</summary>
    public async Task<(FeedOffset Next, int Changes, int Transactions)> CountAsync(ClientRecord client, FeedOffset after, CancellationToken ct)
    {
        var filter = FilterOf(client);
        int changes = 0, transactions = 0;
        var last = await log.ReadAsync(options.Source.Slot, after.Lsn, (_, events) =>
        {
            var taken = events.Count(e => filter.Accepts(e.Row));
            changes += taken;
            if (taken > 0) transactions++;
            return Task.FromResult(true);
        }, ct);
        return (new FeedOffset(last), changes, transactions);
    }
}
