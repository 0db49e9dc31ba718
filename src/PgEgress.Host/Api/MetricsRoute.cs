using OpenTelemetry.Metrics;
using PgEgress.Core.Configuration;
using PgEgress.Core.Metrics;

namespace PgEgress.Host.Api;

/// <summary>Prometheus text at <c>GET /metrics</c>, behind the API key (a Prometheus job sends it as the x-functions-key header or ?code=).</summary>
public static class MetricsRoute
{
    public const string Path = "/metrics";

    public static void AddPgEgressMetrics(this IServiceCollection services) =>
        services.AddOpenTelemetry().WithMetrics(m => m.AddPgEgressInstrumentation().AddPrometheusExporter());

    public static void MapPgEgressMetrics(this WebApplication app)
    {
        var api = app.Services.GetRequiredService<ApiOptions>();
        // The exporter's endpoint is a plain request delegate, which endpoint filters do not wrap: the key is checked before it.
        app.UseWhen(c => c.Request.Path.Equals(Path, StringComparison.Ordinal), branch => branch.Use(async (context, next) =>
        {
            if (ApiKeyFilter.Refusal(context.Request, api) is { } refusal) await refusal.ExecuteAsync(context);
            else await next(context);
        }));
        app.MapPrometheusScrapingEndpoint(Path);
    }
}
