using System.Globalization;
using System.Text.Json;
using PgEgress.Core.Api;
using PgEgress.Core.Configuration;
using PgEgress.Core.Metrics;
using PgEgress.Core.Output;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Clients;

/// <summary>
/// The client routes, shared by the Host and the Functions app. Management (register, list, get, disconnect) is the
/// operator's, behind the API key like every other route; the feed routes (ping, changes, ack, events) take the
/// client's own secret as <c>Authorization: Bearer …</c> and nothing else, so a client holds no key that reaches
/// anything but its own feed. Every refusal is a problem body and changes nothing.
/// </summary>
public sealed class ClientsApi(ClientStore clients, ClientFeed feed, ClientEvents events, StagedWatch watch, RegistryStore registry,
    PgEgressOptions options, PgEgressMeter meter, TimeProvider clock)
{
    public const int DefaultLimit = 1000;
    public const int MaxLimit = 10_000;
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    private string Slot => options.Source.Slot;

    private static readonly IReadOnlyDictionary<string, string> NoHeaders = new Dictionary<string, string>();

    /// <summary><c>POST /api/clients</c>: 201 with the id, the cursor and the secret (shown this once).</summary>
    public async Task<ApiReply> RegisterAsync(byte[]? body, CancellationToken ct)
    {
        if (body is null) return ApiReply.Fail(413, $"the body is larger than {RequestBody.MaxBytes} bytes");
        if (!ClientRegistration.TryParse(body, out var registration, out var problem)) return ApiReply.Fail(400, problem);
        return await FromSourceAsync(async () =>
        {
            foreach (var table in registration.Tables)
            {
                var published = await clients.IsPublishedAsync(options.Source.Publication, table, ct);
                if (published is null) return ApiReply.Fail(404, $"no table {table} in the source database");
                if (published is false) return ApiReply.Fail(409, $"{table} is not in the publication '{options.Source.Publication}': its changes are never staged");
            }
            var id = ClientId.New();
            var (secret, hash) = ClientSecret.New();
            var ttl = registration.Ttl ?? options.Clients.DefaultTtl;
            var (cursor, earliest) = await clients.RegisterAsync(Slot, id, registration, hash, ttl, ct);
            if (cursor is null)
                return ApiReply.Fail(400, $"start {PgText.Lsn(registration.StartLsn!.Value)} is below what staging still holds for a new client (from {PgText.Lsn(earliest)}); use \"earliest\" or a later LSN");
            return ApiReply.Json(new
            {
                id = id.ToString(),
                registration.Name,
                secret,
                cursor = new FeedOffset(cursor.Value).ToString(),
                cursor_lsn = PgText.Lsn(cursor.Value),
                tables = registration.TableNames.ToArray(),
                operations = registration.OperationNames,
                ttl_seconds = ttl.TotalSeconds,
                state = ClientState.Active,
            }, 201);
        });
    }

    /// <summary><c>GET /api/clients</c>: every client of the pipeline, ended ones included.</summary>
    public Task<ApiReply> ListAsync(CancellationToken ct) => FromSourceAsync(async () =>
        ApiReply.Json(new { clients = await clients.StatusesAsync(Slot, await registry.GetStagedLsnAsync(Slot, ct), clock.GetUtcNow().UtcDateTime, ct) }));

    /// <summary><c>GET /api/clients/{id}</c>: cursor, lag, last seen, state.</summary>
    public Task<ApiReply> GetAsync(string id, CancellationToken ct) => FromSourceAsync(async () =>
    {
        if (await FindAsync(id, ct) is not { } client) return Unknown(id);
        return ApiReply.Json(ClientStatus.From(client, await registry.GetStagedLsnAsync(Slot, ct), clock.GetUtcNow().UtcDateTime));
    });

    /// <summary><c>DELETE /api/clients/{id}</c>: disconnects the client and releases its cursor (its staged segments with it).</summary>
    public Task<ApiReply> DisconnectAsync(string id, CancellationToken ct) => FromSourceAsync(async () =>
    {
        if (await FindAsync(id, ct) is not { } client) return Unknown(id);
        await clients.DisconnectAsync(Slot, client.Id, ct);
        var after = await clients.GetAsync(Slot, client.Id, ct);
        return ApiReply.Json(ClientStatus.From(after!, await registry.GetStagedLsnAsync(Slot, ct), clock.GetUtcNow().UtcDateTime));
    });

    /// <summary><c>POST /api/clients/{id}/ping</c>: the client is alive; its TTL starts again.</summary>
    public Task<ApiReply> PingAsync(string id, string? authorization, CancellationToken ct) => FromSourceAsync(async () =>
    {
        var (client, refusal) = await AuthenticateAsync(id, authorization, ct);
        if (refusal is not null) return refusal;
        await clients.TouchAsync(Slot, client!.Id, ct);
        var seen = await clients.GetAsync(Slot, client.Id, ct);
        return ApiReply.Json(ClientStatus.From(seen!, await registry.GetStagedLsnAsync(Slot, ct), clock.GetUtcNow().UtcDateTime));
    });

    /// <summary>
    /// <c>GET /api/clients/{id}/changes?after=&amp;limit=&amp;wait=</c>: whole transactions after <c>after</c> (default: the
    /// client's cursor) in commit order. With <c>wait</c> (seconds, at most 30) it long-polls until a change for the client
    /// is staged, else 204. <c>next</c> is in the body (JSON) and in the <see cref="FeedPage.NextHeader"/> header.
    /// </summary>
    public async Task<(ApiReply? Reply, StreamReply? Stream)> ChangesAsync(string id, string? authorization, string? after, string? limit, string? wait,
        string? accept, CancellationToken ct)
    {
        FeedOffset? from = null;
        if (after is not null && !FeedOffset.TryParse(after, out from))
            return (ApiReply.Fail(400, $"after '{after}' is not an offset of this feed (use the next value of an earlier answer)"), null);
        if (!TryNumber(limit, DefaultLimit, 1, MaxLimit, out var max))
            return (ApiReply.Fail(400, $"limit must be a whole number from 1 to {MaxLimit} (got '{limit}')"), null);
        if (!TryNumber(wait, 0, 0, (int)MaxWait.TotalSeconds, out var waitSeconds))
            return (ApiReply.Fail(400, $"wait must be a whole number of seconds from 0 to {MaxWait.TotalSeconds:0} (got '{wait}')"), null);
        var format = accept?.Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase) == true ? FeedFormat.NdJson : FeedFormat.Json;
        try
        {
            var (found, start, refusal) = await OpenAsync(id, authorization, from, ct);
            if (refusal is not null) return (refusal, null);
            var client = found!;
            var offset = start;
            var deadline = clock.GetUtcNow() + TimeSpan.FromSeconds(waitSeconds);
            while (true)
            {
                FeedPage page;
                try
                {
                    page = await feed.ReadAsync(client, offset, max, format, ct);
                }
                catch (InvalidDataException)
                {
                    // A flush deleted segments while this read went through them.
                    if (await CheckOffsetAsync(client, offset, ct) is { } gone) return (gone, null);
                    throw;
                }
                if (page.Changes > 0 || waitSeconds == 0)
                {
                    meter.FeedServed(page.Changes);
                    return (null, new StreamReply(200, page.ContentType, Next(page.Next), async (body, token) =>
                    {
                        await using (page) await page.WriteToAsync(body, token);
                    }));
                }
                offset = page.Next;
                await page.DisposeAsync();
                var remaining = deadline - clock.GetUtcNow();
                if (remaining <= TimeSpan.Zero || !await watch.WaitPastAsync(offset.Lsn, remaining, ct))
                {
                    meter.FeedServed(0);
                    return (null, new StreamReply(204, null, Next(offset), null));
                }
            }
        }
        catch (Exception e) when (SourceUnavailable.Matches(e))
        {
            return (SourceUnavailable.Reply(e), null);
        }
    }

    /// <summary><c>POST /api/clients/{id}/ack {offset}</c>: moves the client's cursor to the offset (never back); the segments before it may go.</summary>
    public Task<ApiReply> AckAsync(string id, string? authorization, byte[]? body, CancellationToken ct) => FromSourceAsync(async () =>
    {
        var (client, refusal) = await AuthenticateAsync(id, authorization, ct);
        if (refusal is not null) return refusal;
        if (body is null) return ApiReply.Fail(413, $"the body is larger than {RequestBody.MaxBytes} bytes");
        if (!TryOffsetBody(body, out var offset, out var problem)) return ApiReply.Fail(400, problem);
        var staged = await registry.GetStagedLsnAsync(Slot, ct);
        if (offset.Lsn > staged)
            return ApiReply.Fail(400, $"offset {offset} is beyond what is staged ({new FeedOffset(staged)}): acknowledge only a next value the feed gave");
        await clients.TouchAsync(Slot, client!.Id, ct);
        if (await clients.AckAsync(Slot, client.Id, offset.Lsn, ct) is not { } cursor) return Ended(client);
        return ApiReply.Json(new { cursor = new FeedOffset(cursor).ToString(), cursor_lsn = PgText.Lsn(cursor) });
    });

    /// <summary><c>GET /api/clients/{id}/events</c>: Server-Sent Events from <c>Last-Event-ID</c> (default: the client's cursor).</summary>
    public async Task<(ApiReply? Reply, StreamReply? Stream)> EventsAsync(string id, string? authorization, string? lastEventId, CancellationToken ct)
    {
        FeedOffset? from = null;
        if (!string.IsNullOrEmpty(lastEventId) && !FeedOffset.TryParse(lastEventId, out from))
            return (ApiReply.Fail(400, $"Last-Event-ID '{lastEventId}' is not an offset of this feed"), null);
        try
        {
            var (found, start, refusal) = await OpenAsync(id, authorization, from, ct);
            if (refusal is not null) return (refusal, null);
            var client = found!;
            var offset = start;
            var headers = new Dictionary<string, string> { ["Cache-Control"] = "no-cache,no-store", ["X-Accel-Buffering"] = "no" };
            return (null, new StreamReply(200, "text/event-stream", headers, async (body, token) =>
            {
                try
                {
                    await events.WriteAsync(client, offset, body, token);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    // The client went away.
                }
            }));
        }
        catch (Exception e) when (SourceUnavailable.Matches(e))
        {
            return (SourceUnavailable.Reply(e), null);
        }
    }

    private static IReadOnlyDictionary<string, string> Next(FeedOffset next) => new Dictionary<string, string> { [FeedPage.NextHeader] = next.ToString() };

    private async Task<ClientRecord?> FindAsync(string id, CancellationToken ct) =>
        ClientId.TryParse(id, out var clientId) ? await clients.GetAsync(Slot, clientId.Value, ct) : null;

    private static ApiReply Unknown(string id) => ApiReply.Fail(404, $"no client '{id}' in this pipeline");

    private static ApiReply Ended(ClientRecord client) => ApiReply.Fail(410,
        $"client {client.Id} is {client.State} ({client.StateReason ?? "ended"}) and has no cursor any more: register again (start \"now\"), "
        + "then re-sync its tables from a reload file (POST /api/tables/{table}/reload); changes the reload already holds may repeat, none are missed");

    /// <summary>An authenticated feed read from <paramref name="from"/> (default: the client's cursor), the client now seen; else the refusal.</summary>
    private async Task<(ClientRecord? Client, FeedOffset From, ApiReply? Refusal)> OpenAsync(string id, string? authorization, FeedOffset? from, CancellationToken ct)
    {
        var (client, refusal) = await AuthenticateAsync(id, authorization, ct);
        if (refusal is not null) return (null, default, refusal);
        var offset = from ?? new FeedOffset(client!.Cursor!.Value);
        if (await CheckOffsetAsync(client!, offset, ct) is { } bad) return (null, default, bad);
        await clients.TouchAsync(Slot, client!.Id, ct);
        return (client, offset, null);
    }

    /// <summary>The client, when the id names one, the secret is its own and it is active; else the refusal.</summary>
    private async Task<(ClientRecord? Client, ApiReply? Refusal)> AuthenticateAsync(string id, string? authorization, CancellationToken ct)
    {
        if (await FindAsync(id, ct) is not { } client) return (null, Unknown(id));
        if (!ClientSecret.Matches(ClientSecret.FromAuthorization(authorization), client.SecretSha256))
            return (null, ApiReply.Fail(401, "missing or wrong client secret: send the secret the registration returned as Authorization: Bearer <secret>"));
        return client.IsActive && client.Cursor is not null ? (client, null) : (null, Ended(client));
    }

    /// <summary>
    /// An offset the feed can still serve: at or past the client's cursor (which retains its segments), or past the
    /// start of the oldest staged segment; not past what is staged. Else 410 (gone) or 400 (never given).
    /// </summary>
    private async Task<ApiReply?> CheckOffsetAsync(ClientRecord client, FeedOffset offset, CancellationToken ct)
    {
        var staged = await registry.GetStagedLsnAsync(Slot, ct);
        if (offset.Lsn > staged && offset.Lsn > client.Cursor)
            return ApiReply.Fail(400, $"offset {offset} is beyond what is staged ({new FeedOffset(staged)}): use the next value of an earlier answer");
        if (offset.Lsn >= client.Cursor) return null;
        if (await clients.GetRetainedFromAsync(Slot, ct) is { } retained && retained <= offset.Lsn) return null;
        return ApiReply.Fail(410, $"offset {offset} is older than what staging still holds for client {client.Id} (its cursor is {new FeedOffset(client.Cursor!.Value)}): "
            + "re-sync its tables from a reload file (POST /api/tables/{table}/reload) and read on from the cursor");
    }

    private static bool TryNumber(string? text, int fallback, int min, int max, out int value)
    {
        if (text is null)
        {
            value = fallback;
            return true;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
    }

    private static bool TryOffsetBody(byte[] body, out FeedOffset offset, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        offset = default;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("offset", out var value)
                && value.ValueKind == JsonValueKind.String && FeedOffset.TryParse(value.GetString(), out var parsed))
            {
                offset = parsed.Value;
                problem = null;
                return true;
            }
            problem = "the body must be {\"offset\": \"<a next value the feed gave>\"}";
        }
        catch (JsonException e)
        {
            problem = $"the body is not valid JSON: {e.Message}";
        }
        return false;
    }

    private static Task<ApiReply> FromSourceAsync(Func<Task<ApiReply>> route) => PgEgressApi.FromSourceAsync(route);
}
