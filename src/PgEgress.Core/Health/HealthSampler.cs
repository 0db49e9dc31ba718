using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Clients;
using PgEgress.Core.Metrics;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Health;

/// <summary>
/// The meter's observable gauges (slot, lag, tables). A scrape never queries: it reads the last sample and, when that
/// is older than <see cref="MaxAge"/>, starts one refresh in the background for the next scrape. A source that does
/// not answer therefore never hangs a scrape; its gauges go missing until a refresh succeeds.
/// </summary>
public sealed class HealthSampler
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    private readonly LagReader _lag;
    private readonly RegistryStore _registry;
    private readonly IngestProgress _progress;
    private readonly TimeProvider _clock;
    private readonly ILogger<HealthSampler> _logger;
    private Sample? _sample;
    private long _takenAtTicks;
    private int _refreshing;

    private sealed record Sample(LagReport Lag, IReadOnlyList<TableStateRecord> Tables, IReadOnlyList<ClientStatus> Clients);

    private readonly ClientStore _clients;

    public HealthSampler(PgEgressMeter meter, LagReader lag, RegistryStore registry, ClientStore clients, IngestProgress progress, TimeProvider clock,
        ILogger<HealthSampler> logger)
    {
        (_lag, _registry, _clients, _progress, _clock, _logger) = (lag, registry, clients, progress, clock, logger);
        var m = meter.Meter;
        m.CreateObservableGauge<long>("pgegress.slot.active", () => Slot(s => s.Exists ? [new(s.Active ? 1 : 0)] : []), null,
            "1 while a replication connection holds the slot, 0 between slices or while ingest is down.");
        m.CreateObservableGauge<long>("pgegress.slot.retained_wal", () => Slot(s => s.RetainedWalBytes is { } b ? [new(b)] : []), "By",
            "WAL the slot keeps on the source (current WAL position minus restart_lsn).");
        m.CreateObservableGauge<long>("pgegress.replication.lag", () => Slot(s => s.LagBytes is { } b ? [new(b)] : []), "By",
            "WAL written on the source that ingest has not staged and confirmed (current WAL position minus confirmed_flush_lsn).");
        m.CreateObservableGauge<double>("pgegress.replication.delay", () => _progress.IngestDelaySeconds() is { } d ? [new Measurement<double>(d)] : [], "s",
            "Age of the newest commit known staged; stays below about a slice's duration while ingest keeps up.");
        m.CreateObservableGauge<long>("pgegress.consumer.lag", () => Consumers<long>(l => l.Bytes is { } b ? new Measurement<long>(b, Label("consumer", l.Consumer)) : null), "By",
            "Staged WAL a consumer (flush, sink:{name}) has yet to consume.");
        m.CreateObservableGauge<double>("pgegress.consumer.delay", () => Consumers<double>(l => l.Seconds is { } s ? new Measurement<double>(s, Label("consumer", l.Consumer)) : null), "s",
            "Age of the oldest staged change a consumer (flush, sink:{name}) has yet to consume; 0 when caught up.");
        m.CreateObservableGauge<int>("pgegress.table.mode", () => Tables<int>(t => new Measurement<int>(1, Label("table", t.Table.ToString()), Label("mode", t.Mode))), null,
            "1 for each published table, labelled with its mode.");
        m.CreateObservableGauge<double>("pgegress.table.last_batch.timestamp",
            () => Tables(t => t.LastBatch is null ? (Measurement<double>?)null : new Measurement<double>(new DateTimeOffset(DateTime.SpecifyKind(t.UpdatedAt, DateTimeKind.Utc)).ToUnixTimeMilliseconds() / 1000.0, Label("table", t.Table.ToString()))),
            "s", "When the table's newest file was registered (Unix time).");
        m.CreateObservableGauge<int>("pgegress.clients", () => Current() is { } s
                ? ClientStates.Select(state => new Measurement<int>(s.Clients.Count(c => c.State == state), Label("state", state))) : [], null,
            "Registered change-feed clients, by state (active, expired, lagging-expired, disconnected).");
        m.CreateObservableGauge<long>("pgegress.client.lag", () => Current() is { } s
                ? s.Clients.Where(c => c.LagBytes is not null).Select(c => new Measurement<long>(c.LagBytes!.Value, Label("client", c.Id))) : [], "By",
            "Staged WAL past an active client's acknowledged cursor.");
    }

    private static readonly string[] ClientStates = [ClientState.Active, ClientState.Expired, ClientState.LaggingExpired, ClientState.Disconnected];

    private static KeyValuePair<string, object?> Label(string name, string value) => new(name, value);

    private IEnumerable<Measurement<long>> Slot(Func<SlotStatus, IEnumerable<Measurement<long>>> read) =>
        Current() is { } s ? read(s.Lag.Slot) : [];

    private IEnumerable<Measurement<T>> Consumers<T>(Func<ConsumerLag, Measurement<T>?> read) where T : struct =>
        Current() is { } s ? s.Lag.Consumers.Where(l => l.Consumer != LagReader.Ingest).Select(read).OfType<Measurement<T>>() : [];

    private IEnumerable<Measurement<T>> Tables<T>(Func<TableStateRecord, Measurement<T>?> read) where T : struct =>
        Current() is { } s ? s.Tables.Select(read).OfType<Measurement<T>>() : [];

    private Sample? Current()
    {
        if (_clock.GetUtcNow().UtcTicks - Interlocked.Read(ref _takenAtTicks) >= MaxAge.Ticks && Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0)
            _ = Task.Run(RefreshAsync);
        return Volatile.Read(ref _sample);
    }

    private async Task RefreshAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var lag = await _lag.ReadAsync(timeout.Token);
            var sample = new Sample(lag, [.. (await _registry.GetTableStatesAsync(timeout.Token)).Values],
                await _clients.StatusesAsync(_lag.Slot, lag.StagedLsn, _clock.GetUtcNow().UtcDateTime, timeout.Token));
            Volatile.Write(ref _sample, sample);
        }
        catch (Exception e)
        {
            // Stale numbers would look healthy: drop them until the source answers again.
            Volatile.Write(ref _sample, null);
            _logger.LogWarning("Metrics sample failed (slot and lag gauges are missing until the next one succeeds): {Error}", e.Message);
        }
        finally
        {
            Interlocked.Exchange(ref _takenAtTicks, _clock.GetUtcNow().UtcTicks);
            Volatile.Write(ref _refreshing, 0);
        }
    }
}
