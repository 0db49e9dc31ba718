using System.Diagnostics;
using Npgsql;

namespace PgEgress.Bench;

/// <summary>
/// Samples, on its own thread, this process's managed heap and the CPU of the walsender serving a slot (the server
/// side of the stream; its last sample before it exits is kept, so it may be ~0.1 s short).
/// </summary>
public sealed class RunSampler : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(20);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly NpgsqlDataSource _db;
    private readonly string _slot;
    private long _peakHeap;
    private int _walsenderPid;
    private TimeSpan _walsenderCpu;

    private RunSampler(NpgsqlDataSource db, string slot)
    {
        (_db, _slot) = (db, slot);
        _loop = Task.Factory.StartNew(LoopAsync, TaskCreationOptions.LongRunning).Unwrap();
    }

    public static RunSampler Start(NpgsqlDataSource db, string slot) => new(db, slot);

    public long PeakManagedHeap => Interlocked.Read(ref _peakHeap);
    public TimeSpan WalsenderCpu => _walsenderCpu;

    private async Task LoopAsync()
    {
        var lastLookup = Stopwatch.StartNew();
        while (!_stop.IsCancellationRequested)
        {
            var heap = GC.GetTotalMemory(false);
            if (heap > _peakHeap) Interlocked.Exchange(ref _peakHeap, heap);
            if (_walsenderPid == 0 && lastLookup.Elapsed > TimeSpan.FromMilliseconds(100))
            {
                lastLookup.Restart();
                _walsenderPid = await ActivePidAsync();
            }
            if (_walsenderPid != 0 && ProcStats.ProcessCpu(_walsenderPid) is { } cpu) _walsenderCpu = cpu;
            try { await Task.Delay(Period, _stop.Token); }
            catch (OperationCanceledException) { }
        }
    }

    private async Task<int> ActivePidAsync()
    {
        try
        {
            await using var cmd = _db.CreateCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1");
            cmd.Parameters.Add(new() { Value = _slot });
            return await cmd.ExecuteScalarAsync() is int pid ? pid : 0;
        }
        catch (NpgsqlException)
        {
            return 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
