using System.Net;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks.ClickHouse;
using PgEgress.Core.Sinks.Postgres;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Sinks;

/// <summary>The configured, enabled sinks as runners, built once per process; the Host's loop and the Functions activities use the same ones.</summary>
public sealed class SinkRunners : IAsyncDisposable
{
    private readonly Dictionary<string, ISinkRunner> _runners = new(StringComparer.Ordinal);
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<HttpClient> _clients = [];
    private static readonly TimeSpan TargetCheckTimeout = TimeSpan.FromSeconds(5);

    private readonly List<PostgresTargetApplier> _targets = [];
    private readonly RegistryStore _registry;
    private readonly string _slot;
    private readonly ILogger _logger;

    public SinkRunners(PgEgressOptions options, NpgsqlDataSource source, IObjectStore store, RegistryStore registry, StagedLog log, SinkMetrics metrics,
        TimeProvider clock, ILoggerFactory loggers)
    {
        (_registry, _slot, _logger) = (registry, options.Source.Slot, loggers.CreateLogger<SinkRunners>());
        foreach (var (name, sink) in options.Sinks.Where(s => s.Value.Enabled).OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var logger = loggers.CreateLogger($"PgEgress.Sinks.{name}");
            var counters = metrics.For(name);
            if (sink.Kind == SinkKind.Postgres)
            {
                var applier = new PostgresTargetApplier(name, sink, ct => DatabaseIdentity.ReadAsync(source, ct), loggers.CreateLogger<PostgresTargetApplier>());
                _owned.Add(applier);
                _targets.Add(applier);
                _runners[name] = new PostgresSinkRunner(name, sink, _slot, applier, log, registry, new SetAsideTables(name, store, counters, logger), counters, logger);
                continue;
            }
            // Timeouts are the delivery pipeline's, per attempt; the client itself never gives up on its own.
            var http = new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                AutomaticDecompression = DecompressionMethods.All,
                // A redirect would turn the POST into a GET whose 2xx counted as delivered; a 3xx is an answer to fix.
                AllowAutoRedirect = false,
            })
            {
                Timeout = Timeout.InfiniteTimeSpan,
            };
            _clients.Add(http);
            if (sink.Kind == SinkKind.ClickHouse)
            {
                _runners[name] = new ClickHouseSinkRunner(name, sink, _slot, new ClickHouseHttp(sink, http), log, registry, new SetAsideTables(name, store, counters, logger), counters, logger);
                continue;
            }
            IEventEndpoint endpoint = sink.Kind == SinkKind.Hook0 ? new Hook0Endpoint(_slot, sink) : new CloudEventsEndpoint(_slot, sink, clock);
            var delivery = new EventDelivery(name, sink, endpoint, http, store, counters, options.Health.PermanentRetryMaxDelay, logger);
            _runners[name] = new EventSinkRunner(name, sink, _slot, delivery, endpoint.MaxBatch, log, registry, counters, logger);
        }
    }

    /// <summary>The registry cursor of a sink.</summary>
    public static string Consumer(string sink) => $"sink:{sink}";

    public IReadOnlyCollection<string> Names => _runners.Keys;

    public ISinkRunner? For(string name) => _runners.GetValueOrDefault(name);

    /// <summary>
    /// Refuses, before the source is set up, a Postgres sink whose target is the source. A database that cannot be reached
    /// now is checked again before that sink's first apply (a target that is down must not stop the pipeline).
    /// </summary>
    /// <exception cref="ConfigurationException">A target is the source.</exception>
    public async Task CheckTargetsAsync(CancellationToken ct)
    {
        foreach (var target in _targets)
        {
            // A target that is down must not hold the start up for long either.
            using var patience = CancellationTokenSource.CreateLinkedTokenSource(ct);
            patience.CancelAfter(TargetCheckTimeout);
            try
            {
                await target.EnsureNotSourceAsync(patience.Token);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                _logger.LogWarning("A Postgres sink's target or the source cannot be reached now ({Error}); the sink checks that its target is not the source before it applies anything", e.Message);
            }
        }
    }

    /// <summary>Gives every enabled sink a cursor before anything could delete the segments it has yet to deliver.</summary>
    public async Task EnsureCursorsAsync(CancellationToken ct)
    {
        foreach (var name in _runners.Keys) await _registry.EnsureCursorAsync(_slot, Consumer(name), ct);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned) await owned.DisposeAsync();
        foreach (var client in _clients) client.Dispose();
    }
}
