using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenTelemetry.Metrics;
using PgEgress.Core.Health;

namespace PgEgress.Core.Metrics;

/// <summary>What the Host and the Functions app both add to their OpenTelemetry metrics: the engine's meter and Npgsql's.</summary>
public static class PgEgressMetrics
{
    public static MeterProviderBuilder AddPgEgressInstrumentation(this MeterProviderBuilder metrics)
    {
        metrics.AddMeter(PgEgressMeter.Name).AddNpgsqlInstrumentation();
        // The observable gauges exist once the sampler does; both runtimes build the provider from their services.
        if (metrics is IDeferredMeterProviderBuilder deferred) deferred.Configure((services, _) => services.GetRequiredService<HealthSampler>());
        return metrics;
    }
}
