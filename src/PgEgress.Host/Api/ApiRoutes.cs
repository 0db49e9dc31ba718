using PgEgress.Core.Batching;
using PgEgress.Core.Health;

namespace PgEgress.Host.Api;

/// <summary>The HTTP API, the same routes the Functions app serves under its "api" prefix.</summary>
public static class ApiRoutes
{
    public static readonly TimeSpan FlushTimeout = TimeSpan.FromMinutes(2);

    public static void MapPgEgressApi(this WebApplication app)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/health", () => Results.Ok(new { status = "up" }));

        var keyed = api.MapGroup("").AddEndpointFilter<ApiKeyFilter>();
        keyed.MapGet("/ready", async (StatusReader status, CancellationToken ct) =>
        {
            var report = await status.CheckReadyAsync(ct);
            return Results.Json(report, statusCode: report.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        keyed.MapGet("/status", async (StatusReader status, CancellationToken ct) => Results.Ok(await status.ReadAsync(ct)));
        keyed.MapPost("/flush", async (ForcedFlush flush, IngestProgress progress, CancellationToken ct) =>
        {
            try
            {
                var result = await flush.RunAsync(FlushTimeout, ct);
                progress.FlushDone(result);
                return Results.Ok(result);
            }
            catch (TimeoutException e)
            {
                return Results.Problem(e.Message, statusCode: StatusCodes.Status504GatewayTimeout);
            }
        });
    }
}
