using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Clients;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using PgEgress.Core.Sinks;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Health;

/// <summary>Builds /api/status and /api/ready from the slot, the registry and the store.</summary>
public sealed class StatusReader(PgEgressOptions pipeline, IObjectStore store, RegistryStore registry,
    OperationStore operations, IngestProgress progress, ReloadProgress exports, SinkMetrics sinkMetrics, LagReader lag, LagHistory history,
    ComponentFailures failing,
    ClientStore clients,
    Verification.VerificationStore verifications)
{
    private string Slot => pipeline.Source.Slot;

    public async Task<StatusReport> ReadAsync(CancellationToken ct)
    {
        var lags = await lag.ReadAsync(ct);
        var (slot, staged) = (lags.Slot, lags.StagedLsn);
        var cursor = await registry.GetCursorAsync(Slot, RegistryStore.FlushConsumer, ct);
        var pending = await registry.GetSegmentsAsync(Slot, cursor?.Lsn ?? 0, ct);
        var failures = await registry.GetFlushFailuresAsync(Slot, ct);
        var failed = failures.ToDictionary(f => f.Table, f => f.Error);
        var tables = (await registry.GetTableStatesAsync(ct)).Values
            .Select(t => new TableStatus(t.Table.ToString(), t.Mode, t.SchemaVersion, t.Files, t.Rows, t.Bytes, t.LastBatch,
                t.LastEndLsn is { } l ? PgText.Lsn(l) : null, failed.GetValueOrDefault(t.Table)))
            .ToList();
        var ops = (await operations.GetRecentAsync(Slot, RecentOperations, ct)).Select(o => OperationStatus.From(o, exports.For(o.Id))).ToList();
        var (slice, flush, error, errorKind, errorAt) = progress.Snapshot();
        return new StatusReport(slot, PgText.Lsn(staged), PgText.Lsn(cursor?.Lsn ?? 0), pending.Count, pending.Sum(p => p.Bytes),
            cursor?.LastCut, cursor?.UpdatedAt, slice is null ? null : SliceStatus.From(slice), flush, error, errorKind, errorAt, tables,
            [.. failures.Select(f => new FlushFailureStatus(f.Table.ToString(), f.Error, PgText.Lsn(f.RetryFrom), f.FirstFailedAt, f.LastFailedAt, f.Attempts))], ops,
            await SinksAsync(lags, ct), lags.Consumers, history.Read(), failing.Current(), await clients.StatusesAsync(Slot, staged, DateTime.UtcNow, ct))
        {
            Verifications = await verifications.LatestPerTableAsync(Slot, ct),
        };
    }

    /// <summary>Each configured sink: its registry cursor, how far behind the staged log it is, and this process's counters.</summary>
    private async Task<List<SinkStatus>> SinksAsync(LagReport lags, CancellationToken ct)
    {
        var list = new List<SinkStatus>();
        foreach (var (name, sink) in pipeline.Sinks.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var consumer = SinkRunners.Consumer(name);
            var cursor = await registry.GetCursorAsync(Slot, consumer, ct);
            var m = sinkMetrics.For(name);
            var behind = lags.Consumers.Single(l => l.Consumer == consumer);
            list.Add(new SinkStatus(name, sink.Kind?.ToString() ?? "", sink.Enabled, cursor is null ? null : PgText.Lsn(cursor.Lsn), behind.Bytes ?? 0, behind.Seconds,
                m.Delivered, m.Retried, m.DeadLettered, m.LastError, m.LastErrorKind, m.LastErrorAt));
        }
        return list;
    }

    private static ReadinessCheck ErrorsCheck(IReadOnlyList<ComponentFailure> current) => new("errors",
        current.All(f => f.Kind != FailureClassifier.Label(FailureKind.Permanent)),
        current.Count == 0 ? "no component failing" : string.Join("; ", current.Select(f =>
            $"{f.Component}: {f.Kind}{(f.SqlState is null ? "" : $" (SQLSTATE {f.SqlState})")} since {f.Since:u}, {f.Attempts} attempt(s): {f.Message}")));

    /// <summary>Finished operations listed in /api/status besides every unfinished one.</summary>
    public const int RecentOperations = 20;

    public OperationStatus Operation(OperationRecord op) => OperationStatus.From(op, exports.For(op.Id));

    /// <summary>
    /// Ready when the source answers, the slot exists, the flush writes every table, the store is reachable and no
    /// component of this process is in a permanent failure (check <c>errors</c>; transient ones are listed, not failed on).
    /// </summary>
    public async Task<ReadinessReport> CheckReadyAsync(CancellationToken ct)
    {
        var checks = new List<ReadinessCheck> { ErrorsCheck(failing.Current()) };
        try
        {
            var slot = await lag.ReadSlotAsync(ct);
            checks.Add(new ReadinessCheck("source", true, "reachable"));
            checks.Add(new ReadinessCheck("slot", slot.Exists, slot.Exists ? $"{slot.Name} at {slot.ConfirmedFlushLsn}" : $"slot {slot.Name} does not exist"));
            var failures = await registry.GetFlushFailuresAsync(Slot, ct);
            checks.Add(new ReadinessCheck("flush", failures.Count == 0, failures.Count == 0 ? "every table written"
                : string.Join("; ", failures.Select(f => $"{f.Table} not written since {f.FirstFailedAt:u} ({f.Attempts} attempt(s)): {f.Error}"))));
            if (pipeline.Health.MaxLag > TimeSpan.Zero || pipeline.Health.MaxLagBytes > 0)
            {
                var over = LagReader.OverThreshold(await lag.ReadAsync(ct), pipeline.Health);
                checks.Add(new ReadinessCheck("lag", over.Count == 0, over.Count == 0 ? "every consumer within Health:MaxLag" : string.Join("; ", over)));
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            checks.Add(new ReadinessCheck("source", false, e.Message));
            checks.Add(new ReadinessCheck("slot", false, "source unreachable"));
        }
        try
        {
            await store.EnsureReadyAsync(ct);
            checks.Add(new ReadinessCheck("store", true, store.Describe));
        }
        catch (Exception e) when (e is IOException or HttpRequestException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
        {
            checks.Add(new ReadinessCheck("store", false, $"{store.Describe}: {e.Message}"));
        }
        return new ReadinessReport(checks.All(c => c.Ok), checks);
    }
}
