using PgEgress.Core.Api;

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
