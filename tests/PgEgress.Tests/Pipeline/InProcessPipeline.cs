using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Pipeline;

/// <summary>The engine as the Host composes it, run inside the test: setup, the ingest loop in the background, forced flushes.</summary>
public sealed class InProcessPipeline : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly CancellationTokenSource _stop = new();
    private Task? _ingest;
    private Task? _reloads;

    private InProcessPipeline(ServiceProvider services) => _services = services;

    public PgEgressOptions Options => _services.GetRequiredService<PgEgressOptions>();
    public IObjectStore Store => _services.GetRequiredService<IObjectStore>();
    public NpgsqlDataSource Source => _services.GetRequiredService<NpgsqlDataSource>();
    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <summary>Options for a test database: its own slot (slots are cluster-wide), schema "app" published, short slices.</summary>
    public static PgEgressOptions DefaultOptions(string connectionString, string outputFolder) => new()
    {
        Source =
        {
            ConnectionString = connectionString,
            Schemas = ["app"],
            Slot = "pgegress_" + new NpgsqlConnectionStringBuilder(connectionString).Database!.ToLowerInvariant(),
        },
        Storage = { Kind = StorageKind.FileSystem, Path = outputFolder },
        Slice = { MaxDuration = TimeSpan.FromSeconds(1) },
        // The tests' tables are empty when the slot is created; the reload tests turn the initial load on.
        Reload = { InitialLoad = false },
        WorkDirectory = Path.Combine(outputFolder, "..", "work-" + Guid.NewGuid().ToString("N")),
    };

    /// <summary>Runs source setup; <paramref name="ingest"/> also starts the ingest loop, <paramref name="reloads"/> the reload loop.</summary>
    public static async Task<InProcessPipeline> StartAsync(PgEgressOptions options, bool ingest = true, bool reloads = false)
    {
        var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options)
            .BuildServiceProvider();
        var pipeline = new InProcessPipeline(services);
        await services.GetRequiredService<SourceSetup>().RunAsync(default);
        await services.GetRequiredService<IObjectStore>().EnsureReadyAsync(default);
        if (ingest) pipeline.StartIngest();
        if (reloads) pipeline._reloads = Task.Run(() => services.GetRequiredService<ReloadLoop>().RunAsync(pipeline._stop.Token));
        return pipeline;
    }

    /// <summary>A consumer of its own, as a Functions activity makes one per slice.</summary>
    public SliceConsumer NewSliceConsumer() => ActivatorUtilities.CreateInstance<SliceConsumer>(_services);

    public void StartIngest() => _ingest = Task.Run(() => _services.GetRequiredService<IngestLoop>().RunAsync(_stop.Token));

    /// <summary>Flushes everything committed before the call, as POST /api/flush does.</summary>
    public async Task<FlushResult> FlushAsync()
    {
        try
        {
            return await Get<ForcedFlush>().RunAsync(TimeSpan.FromSeconds(60), default);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} Last ingest error: {Get<IngestProgress>().Snapshot().Error ?? "none"}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_ingest is not null) await _ingest;
        if (_reloads is not null) await _reloads;
        await _services.DisposeAsync();
    }
}
