using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using PgEgress.Core.Configuration;
using PgEgress.Core.Metrics;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Functions.Health;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions;

/// <summary>
/// The app's composition, which Program.cs runs and the tests run the same way: ASP.NET Core integration, the Host's
/// settings (app settings PgEgress__Section__Key) validated before anything runs, and Core's services.
/// </summary>
public static class FunctionsApp
{
    public static void Compose(FunctionsApplicationBuilder builder)
    {
        builder.ConfigureFunctionsWebApplication();

        var options = OptionsBinding.Bind(builder.Configuration);
        var errors = OptionsValidator.Validate(options);
        if (errors.Count > 0) throw new InvalidOperationException($"pgegress: configuration error: {string.Join("; ", errors)}");

        // An activity cannot hold the slot-creating replication connection open until the reload activity runs: each
        // table of the initial load is exported under a snapshot of its own.
        builder.Services.AddPgEgress(options, InitialLoadSnapshotPolicy.FreshSnapshotPerTable);
        builder.Services.AddSingleton<EternalOrchestrations>();
        builder.Services.AddHostedService<LagSamplingService>();

        // The engine's and Npgsql's metrics go to Application Insights when the app has its connection string.
        var telemetry = builder.Services.AddOpenTelemetry().UseFunctionsWorkerDefaults().WithMetrics(m => m.AddPgEgressInstrumentation());
        if (!string.IsNullOrEmpty(builder.Configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"])) telemetry.UseAzureMonitorExporter();
    }

    /// <summary>What runs once the host is built: shutdown gets the bounded budget the Host's has.</summary>
    public static void Started(IHost host) =>
        host.Services.GetRequiredService<ShutdownBudget>().Start(host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping,
            host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
}
