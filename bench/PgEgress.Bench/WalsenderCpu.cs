using Npgsql;

namespace PgEgress.Bench;

/// <summary>
/// Samples, on its own thread, the CPU of every walsender that serves a slot during a run, however many sessions come
/// and go: a new session is a new walsender process. Each one's last sample before it exits is kept, so the sum may
/// be short by up to one period per session (which understates the per-slice reconnects, not the kept session).
/// </summary>
public sealed class WalsenderCpu : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<int, TimeSpan> _cpu = [];
    private readonly Lock _gate = new();
    private readonly NpgsqlDataSource _db;
    private readonly string _slot;
    private readonly Task _loop;

    private WalsenderCpu(NpgsqlDataSource db, string slot)
    {
        (_db, _slot) = (db, slot);
        _loop = Task.Factory.StartNew(LoopAsync, TaskCreationOptions.LongRunning).Unwrap();
    }

    public static WalsenderCpu Start(NpgsqlDataSource db, string slot) => new(db, slot);

    public TimeSpan Total
    {
        get { lock (_gate) return _cpu.Values.Aggregate(TimeSpan.Zero, (a, b) => a + b); }
    }

    public int Sessions
    {
        get { lock (_gate) return _cpu.Count; }
    }

    private async Task LoopAsync()
    {
        await using var conn = await _db.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", conn);
        cmd.Parameters.Add(new() { Value = _slot });
        await cmd.PrepareAsync();
        while (!_stop.IsCancellationRequested)
        {
            if (await cmd.ExecuteScalarAsync() is int pid && ProcStats.ProcessCpu(pid) is { } cpu)
                lock (_gate) _cpu[pid] = cpu;
            try { await Task.Delay(Period, _stop.Token); }
            catch (OperationCanceledException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
