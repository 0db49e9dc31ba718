using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Batching;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Pipeline;

/// <summary>The engine as the Host composes it, run inside the test: setup, the ingest loop in the background, forced flushes.</summary>
public sealed class InProcessPipeline : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly CancellationTokenSource _stop = new();
    private Task? _ingest;
    private Task? _reloads;
    private Task? _sinks;

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

    /// <summary>
    /// Runs the start-up (store, source setup, sink cursors); <paramref name="ingest"/> also starts the ingest loop,
    /// <paramref name="reloads"/> the reload loop, <paramref name="sinks"/> a delivery loop per enabled sink;
    /// <paramref name="initialLoad"/> is the Host's choice unless a test takes the Functions app's.
    /// </summary>
    public static async Task<InProcessPipeline> StartAsync(PgEgressOptions options, bool ingest = true, bool reloads = false, bool sinks = false,
        InitialLoadSnapshotPolicy initialLoad = InitialLoadSnapshotPolicy.SlotSnapshot)
    {
        var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning))
            .AddPgEgress(options, initialLoad)
            .BuildServiceProvider();
        var pipeline = new InProcessPipeline(services);
        await services.GetRequiredService<PipelineStartup>().RunAsync(default);
        if (ingest) pipeline.StartIngest();
        if (reloads) pipeline.StartReloads();
        if (sinks) pipeline.StartSinks();
        return pipeline;
    }

    /// <summary>A consumer of its own, as a Functions activity makes one per slice.</summary>
    public SliceConsumer NewSliceConsumer() => ActivatorUtilities.CreateInstance<SliceConsumer>(_services);

    public void StartIngest() => _ingest = Task.Run(() => _services.GetRequiredService<IngestLoop>().RunAsync(_stop.Token));

    public void StartReloads() => _reloads = Task.Run(() => _services.GetRequiredService<ReloadLoop>().RunAsync(_stop.Token));

    public void StartSinks()
    {
        var runners = _services.GetRequiredService<SinkRunners>();
        var loggers = _services.GetRequiredService<ILoggerFactory>();
        _sinks = Task.WhenAll(runners.Names.Select(n => Task.Run(() => new SinkLoop(runners.For(n)!, _services.GetRequiredService<HealthOptions>(), loggers.CreateLogger(n)).RunAsync(_stop.Token))));
    }

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
        if (_sinks is not null) await _sinks;
        await _services.DisposeAsync();
    }
}
