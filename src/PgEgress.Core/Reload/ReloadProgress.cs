using System.Collections.Concurrent;
using PgEgress.Core.Diagnostics;

namespace PgEgress.Core.Reload;

/// <summary>Live progress of this process's exports for /api/status: rows and bytes so far, and an ETA from the table's estimated rows.</summary>
public sealed class ReloadProgress(TimeProvider clock) : IProgress<ExportProgress>
{
    private readonly ConcurrentDictionary<long, (ExportProgress Progress, DateTime StartedAt)> _running = new();

    public void Report(ExportProgress value)
    {
        _running.AddOrUpdate(value.OperationId, _ => (value, clock.GetUtcNow().UtcDateTime), (_, old) => (value, old.StartedAt));
        if (value.RangesDone > 0 && value.RangesDone < value.Ranges) CrashPoint.Hit(CrashPoint.ReloadMidExport);
    }

    public void Done(long operationId) => _running.TryRemove(operationId, out _);

    public ExportStatus? For(long operationId)
    {
        if (!_running.TryGetValue(operationId, out var entry)) return null;
        var (p, started) = entry;
        TimeSpan? eta = null;
        var elapsed = clock.GetUtcNow().UtcDateTime - started;
        if (p.EstimatedRows > 0 && p.Rows > 0 && elapsed > TimeSpan.Zero)
            eta = TimeSpan.FromSeconds(Math.Max(0, p.EstimatedRows - p.Rows) * elapsed.TotalSeconds / p.Rows);
        return new ExportStatus(p.Rows, p.Bytes, p.EstimatedRows, p.RangesDone, p.Ranges, eta?.TotalSeconds);
    }
}

/// <param name="EtaSeconds">Null until rows have been exported and the table's row estimate is known.</param>
public sealed record ExportStatus(long Rows, long Bytes, long EstimatedRows, int RangesDone, int Ranges, double? EtaSeconds);
