using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Api;
using PgEgress.Core.Batching;
using PgEgress.Core.Clients;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.History;
using PgEgress.Core.Metrics;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;
using PgEgress.Core.Verification;

namespace PgEgress.Core.Pipeline;

/// <summary>The one composition of the engine, shared by the Host and the Functions app.</summary>
public static class PgEgressServices
{
    /// <param name="initialLoad">The runtime's choice of snapshot for a new slot's initial load.</param>
    public static IServiceCollection AddPgEgress(this IServiceCollection services, PgEgressOptions options, InitialLoadSnapshotPolicy initialLoad)
    {
        services.AddSingleton(options);
        services.AddSingleton(options.Source);
        services.AddSingleton(options.Batch);
        services.AddSingleton(options.Health);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ShutdownBudget>();
        services.AddSingleton(_ =>
        {
            var builder = new NpgsqlDataSourceBuilder(options.Source.ConnectionString);
            builder.ConnectionStringBuilder.ApplicationName ??= "pgegress";
            return builder.Build();
        });
        services.AddSingleton(sp => ObjectStoreFactory.Create(options.Storage, sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<RegistryStore>();
        services.AddSingleton<PgEgressMeter>();
        services.AddSingleton<ComponentFailures>();
        services.AddSingleton<IngestProgress>();
        services.AddSingleton<LagHistory>();
        services.AddSingleton<LagReader>();
        services.AddSingleton<LagSampling>();
        services.AddSingleton<HealthSampler>();
        services.AddSingleton<StagingSignal>();
        services.AddSingleton<SliceConsumer>();
        services.AddSingleton<IngestLoop>();
        services.AddSingleton<BatchFlusher>();
        services.AddSingleton<FlushSchedule>();
        services.AddSingleton<ForcedFlush>();
        services.AddSingleton<StatusReader>();
        services.AddSingleton<SourceSetup>();
        services.AddSingleton<OperationStore>();
        services.AddSingleton(new InitialLoadSnapshot(initialLoad));
        services.AddSingleton<ReloadProgress>();
        services.AddSingleton<TableExporter>();
        services.AddSingleton<ReloadCoordinator>();
        services.AddSingleton<ReloadLoop>();
        services.AddSingleton<VerificationStore>();
        services.AddSingleton<RepairWriter>();
        services.AddSingleton<TableVerifier>();
        services.AddSingleton<VerificationRunner>();
        services.AddSingleton<VerificationLoop>();
        services.AddSingleton<StagedLog>();
        services.AddSingleton<SinkMetrics>();
        services.AddSingleton<SinkRunners>();
        services.AddSingleton<ClientStore>();
        services.AddSingleton<ClientFeed>();
        services.AddSingleton<StagedWatch>();
        services.AddSingleton<ClientEvents>();
        services.AddSingleton<ClientCleanup>();
        services.AddSingleton<ClientsApi>();
        // Entry points shared by the Host and the Functions app.
        services.AddSingleton<PipelineStartup>();
        services.AddSingleton<TimerFlush>();
        services.AddSingleton<RowHistory>();
        services.AddSingleton<PgEgressApi>();
        return services;
    }
}
