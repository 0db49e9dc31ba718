using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks;

namespace PgEgress.Core.Health;

/// <summary>The slot and every consumer's lag, in bytes and seconds, for /api/status, /api/ready and the metrics; each reading also goes to <see cref="LagHistory"/>.</summary>
public sealed class LagReader(PgEgressOptions pipeline, NpgsqlDataSource source, RegistryStore registry, IngestProgress progress,
    SinkMetrics sinks, TimeProvider clock, LagHistory history)
{
    public const string Ingest = "ingest";

    private string Slot => pipeline.Source.Slot;

    public async Task<LagReport> ReadAsync(CancellationToken ct)
    {
        var slot = await ReadSlotAsync(ct);
        var staged = await registry.GetStagedLsnAsync(Slot, ct);
        var lags = new List<ConsumerLag> { new(Ingest, slot.LagBytes, progress.IngestDelaySeconds()) };
        lags.Add(await StagedLogLagAsync(RegistryStore.FlushConsumer, staged, null, ct));
        foreach (var name in pipeline.Sinks.Keys.Order(StringComparer.Ordinal))
            lags.Add(await StagedLogLagAsync(SinkRunners.Consumer(name), staged, sinks.For(name).OldestPendingCommit, ct));
        history.Record(lags);
        return new LagReport(slot, staged, lags);
    }

    /// <param name="oldestPendingCommit">A sink this process runs knows the commit time of its oldest undelivered transaction; else the segment's registration time stands in.</param>
    private async Task<ConsumerLag> StagedLogLagAsync(string consumer, ulong staged, DateTime? oldestPendingCommit, CancellationToken ct)
    {
        var cursor = (await registry.GetCursorAsync(Slot, consumer, ct))?.Lsn ?? 0;
        if (await registry.GetOldestSegmentAfterAsync(Slot, cursor, ct) is not { } oldest || staged <= cursor) return new ConsumerLag(consumer, 0, 0);
        // Without a cursor yet, the backlog starts at the oldest staged segment, not at LSN 0.
        var from = Math.Max(cursor, oldest.StartLsn);
        var since = oldestPendingCommit is { } c ? DateTime.SpecifyKind(c, DateTimeKind.Utc) : oldest.RegisteredAt;
        return new ConsumerLag(consumer, staged > from ? (long)(staged - from) : 0, Math.Max(0, (clock.GetUtcNow().UtcDateTime - since).TotalSeconds));
    }

    public async Task<SlotStatus> ReadSlotAsync(CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT active, confirmed_flush_lsn, restart_lsn, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
            FROM pg_replication_slots WHERE slot_name = $1
            """);
        cmd.Parameters.Add(new() { Value = Slot });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return new SlotStatus(Slot, false, false, null, null, null, null);
        string? Lsn(int i) => r.IsDBNull(i) ? null : PgText.Lsn((ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(i));
        long? Bytes(int i) => r.IsDBNull(i) ? null : Math.Max(0, r.GetInt64(i));
        return new SlotStatus(Slot, true, r.GetBoolean(0), Lsn(1), Lsn(2), Bytes(3), Bytes(4));
    }

    /// <summary>The consumers past <see cref="HealthOptions.MaxLag"/> or <see cref="HealthOptions.MaxLagBytes"/>, each in a sentence.</summary>
    public static List<string> OverThreshold(LagReport report, HealthOptions health)
    {
        var over = new List<string>();
        foreach (var lag in report.Consumers)
        {
            if (health.MaxLag > TimeSpan.Zero && lag.Seconds > health.MaxLag.TotalSeconds)
                over.Add($"{lag.Consumer} is {lag.Seconds:0.#} s behind (Health:MaxLag {health.MaxLag})");
            if (health.MaxLagBytes > 0 && lag.Bytes > health.MaxLagBytes)
                over.Add($"{lag.Consumer} is {lag.Bytes} bytes behind (Health:MaxLagBytes {health.MaxLagBytes})");
        }
        return over;
    }
}

public sealed record LagReport(SlotStatus Slot, ulong StagedLsn, IReadOnlyList<ConsumerLag> Consumers);
