using PgEgress.Core.Pipeline;
using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Output;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// The tables a Postgres sink has set aside in this process after a failure of their own (<see cref="TargetTableException"/>):
/// their changes are skipped, counted as dead-lettered, while the sink's other tables keep flowing. Each is recorded in
/// _deadletter/{sink}/ with its error and the transaction from which it was skipped; the sink tries it again when the
/// process restarts (the skipped changes are not applied then: re-copy the table once the cause is fixed).
/// </summary>
public sealed class SetAsideTables(string sink, IObjectStore store, SinkMetrics.Counters metrics, ILogger logger)
{
    private readonly ConcurrentDictionary<string, string> _tables = new(StringComparer.Ordinal);

    public bool Contains(string table) => _tables.ContainsKey(table);

    /// <summary>Sets the table aside; false when it already was (its rows are skipped, so the failure is not its own after all).</summary>
    public async Task<bool> AddAsync(TargetTableException failure, ulong fromLsn, CancellationToken ct)
    {
        if (!_tables.TryAdd(failure.Table, failure.Message)) return false;
        var record = JsonSerializer.SerializeToUtf8Bytes(new
        {
            sink,
            table = failure.Table,
            error = failure.Message,
            skipped_from_lsn = PgText.Lsn(fromLsn),
            at = DateTime.UtcNow,
        });
        var path = $"{EventDelivery.DeadLetterPrefix(sink)}{PgText.Lsn(fromLsn).Replace('/', '_')}-{Uri.EscapeDataString(failure.Table)}.json";
        await using (var stream = new MemoryStream(record))
            await store.PutAsync(path, stream, ct);
        metrics.Failed($"table {failure.Table} set aside: {failure.Message}", FailureKind.Permanent);
        logger.LogError(failure, "Sink {Sink}: the table {Table} is set aside from the transaction ending at {Lsn} on; the other tables go on. Recorded in {Path}",
            sink, failure.Table, PgText.Lsn(fromLsn), path);
        return true;
    }
}
