using PgEgress.Core.Api;
using PgEgress.Core.Clients;

namespace PgEgress.Host.Api;

/// <summary>
/// The HTTP API, the same routes the Functions app serves under its "api" prefix; what each route does is Core's
/// <see cref="PgEgressApi"/>, so the two runtimes answer alike. tests/PgEgress.Tests/Functions/RouteParityTests
/// compares the routes mapped here with the Functions app's HTTP triggers.
/// </summary>
public static class ApiRoutes
{
    public static readonly TimeSpan FlushTimeout = PgEgressApi.FlushTimeout;

    public static void MapPgEgressApi(this WebApplication app)
    {
        // The status page, open (it holds no data; its script sends the key): at the site root, and at /api/page where
        // the Functions app serves it, since every Functions route lives under the "api" prefix.
        app.MapGet("/", Page);
        var api = app.MapGroup("/api");
        api.MapGet("/page", Page);
        api.MapGet("/health", () => Send(PgEgressApi.Health()));

        var keyed = api.MapGroup("").AddEndpointFilter<ApiKeyFilter>();
        keyed.MapGet("/ready", async (PgEgressApi handler, CancellationToken ct) => Send(await handler.ReadyAsync(ct)));
        keyed.MapGet("/status", async (PgEgressApi handler, CancellationToken ct) => Send(await handler.StatusAsync(ct)));
        keyed.MapPost("/flush", async (PgEgressApi handler, CancellationToken ct) => Send(await handler.FlushAsync(ct)));
        keyed.MapPost("/tables/{table}/reload", async (string table, PgEgressApi handler, CancellationToken ct) =>
            Send(await handler.RequestReloadAsync(table, ct)));
        keyed.MapGet("/operations/{id}", async (string id, PgEgressApi handler, CancellationToken ct) => Send(await handler.OperationAsync(id, ct)));
        keyed.MapPost("/tables/{table}/verify", async (string table, string? repair, PgEgressApi handler, CancellationToken ct) =>
            Send(await handler.RequestVerifyAsync(table, repair, ct)));
        keyed.MapGet("/verifications/{id}", async (string id, PgEgressApi handler, CancellationToken ct) => Send(await handler.VerificationAsync(id, ct)));
        keyed.MapGet("/tables/{table}/history", async (string table, HttpRequest request, PgEgressApi handler, CancellationToken ct) =>
            Send(await handler.HistoryAsync(table, request.Query.Select(q => KeyValuePair.Create(q.Key, (string?)q.Value.ToString())), ct)));

        // Clients: management is the operator's (API key); the feed routes take the client's own secret instead (ClientsApi).
        keyed.MapPost("/clients", async (HttpRequest request, ClientsApi clients, CancellationToken ct) =>
            Send(await clients.RegisterAsync(await RequestBody.ReadAsync(request.Body, ct), ct)));
        keyed.MapGet("/clients", async (ClientsApi clients, CancellationToken ct) => Send(await clients.ListAsync(ct)));
        keyed.MapGet("/clients/{id}", async (string id, ClientsApi clients, CancellationToken ct) => Send(await clients.GetAsync(id, ct)));
        keyed.MapDelete("/clients/{id}", async (string id, ClientsApi clients, CancellationToken ct) => Send(await clients.DisconnectAsync(id, ct)));
        api.MapPost("/clients/{id}/ping", async (string id, HttpRequest request, ClientsApi clients, CancellationToken ct) =>
            Send(await clients.PingAsync(id, request.Headers.Authorization, ct)));
        api.MapGet("/clients/{id}/changes", async (string id, HttpRequest request, ClientsApi clients, CancellationToken ct) =>
            Send(await clients.ChangesAsync(id, request.Headers.Authorization, request.Query["after"], request.Query["limit"], request.Query["wait"],
                request.Headers.Accept, ct), request.HttpContext.Response));
        api.MapPost("/clients/{id}/ack", async (string id, HttpRequest request, ClientsApi clients, CancellationToken ct) =>
            Send(await clients.AckAsync(id, request.Headers.Authorization, await RequestBody.ReadAsync(request.Body, ct), ct)));
        api.MapGet("/clients/{id}/events", async (string id, HttpRequest request, ClientsApi clients, CancellationToken ct) =>
            Send(await clients.EventsAsync(id, request.Headers.Authorization, request.Headers["Last-Event-ID"], ct), request.HttpContext.Response));
    }

    /// <summary>A feed answer: a problem, or a body streamed to the response with its headers (204 without one).</summary>
    private static IResult Send((ApiReply? Reply, StreamReply? Stream) answer, HttpResponse response)
    {
        if (answer.Reply is { } reply) return Send(reply);
        var stream = answer.Stream!;
        foreach (var (name, value) in stream.Headers) response.Headers[name] = value;
        return stream.Body is { } body
            ? Results.Stream(target => body(target, response.HttpContext.RequestAborted), stream.ContentType)
            : Results.StatusCode(stream.StatusCode);
    }

    private static IResult Page(HttpContext context)
    {
        foreach (var (name, value) in StatusPage.Headers) context.Response.Headers[name] = value;
        return Results.Text(StatusPage.Html, StatusPage.ContentType);
    }

    private static IResult Send(ApiReply reply) => reply.Problem is { } problem
        ? Results.Problem(problem, statusCode: reply.StatusCode)
        : Results.Json(reply.Body, ApiJson.Options, statusCode: reply.StatusCode);
}
