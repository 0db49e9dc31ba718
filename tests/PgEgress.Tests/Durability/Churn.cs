using Npgsql;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Durability;

/// <summary>
/// Small numbered transactions over every <see cref="Workload"/> table, to run after <see cref="Workload.Steps"/>:
/// inserts, updates (of rows with an untouched TOASTed column, and of REPLICA IDENTITY FULL rows), deletes, and a
/// rolled-back transaction now and then. Each transaction changes several tables, so a crash between two of its
/// changes would show as a partial transaction.
/// </summary>
internal static class Churn
{
    public static string Transaction(int i)
    {
        var id = 10_000 + i * 4;
        if (i % 17 == 16)
            return $"BEGIN; INSERT INTO app.accounts VALUES ({id}, 'rolled back', 0); UPDATE app.kitchen_sink SET i = -1; ROLLBACK;";
        return $"""
            BEGIN;
            INSERT INTO app.accounts SELECT g, 'churn ' || g, g * 1.5 FROM generate_series({id}, {id + 3}) g;
            UPDATE app.accounts SET balance = balance + 1, owner = owner || ',"x"' WHERE id = {id - 4};
            DELETE FROM app.accounts WHERE id = {id - 7};
            INSERT INTO app.full_nopk VALUES ({100 + i % 7}, 'churn {i}');
            DELETE FROM app.full_nopk WHERE b = 'churn {i - 5}';
            UPDATE app.full_pk SET title = 'title {i}' WHERE id = {1 + i % 5};
            UPDATE app.kitchen_sink SET i = i + 1, t = E'churn {i}\n"q"' WHERE id = {2 + i % 10};
            INSERT INTO app.log_nopk (msg) VALUES ('churn {i}');
            COMMIT;
            """;
    }

    public static async Task RunAsync(NpgsqlDataSource db, int from, int count)
    {
        for (var i = from; i < from + count; i++)
        {
            await using var cmd = db.CreateCommand(Transaction(i));
            await cmd.ExecuteNonQueryAsync();
        }
    }
}

/// <summary>
/// Writes <see cref="Churn"/> transactions in the background, one after another, from <see cref="Start"/> until stopped: the "long stream of
/// small transactions" a host is killed or stopped in the middle of. A short pause between transactions keeps the
/// stream realistic (and the rebuild quick); it paces the load, it does not synchronise anything.
/// </summary>
internal sealed class ChurnWriter : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;
    private readonly TimeSpan _pace;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _next;

    public ChurnWriter(NpgsqlDataSource db, int from, TimeSpan pace)
    {
        _db = db;
        _next = from;
        _pace = pace;
    }

    public void Start() => _loop = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            await using (var cmd = _db.CreateCommand(Churn.Transaction(_next)))
                await cmd.ExecuteNonQueryAsync(CancellationToken.None);
            Interlocked.Increment(ref _next);
            try { await Task.Delay(_pace, _stop.Token); }
            catch (OperationCanceledException) { }
        }
    });

    /// <summary>The number of the next transaction (all before it are committed).</summary>
    public int Next => Volatile.Read(ref _next);

    /// <summary>Polls until <paramref name="more"/> further transactions are committed.</summary>
    public async Task WaitForMoreAsync(int more, TimeSpan timeout)
    {
        var target = Next + more;
        var deadline = DateTime.UtcNow + timeout;
        while (Next < target)
        {
            if (_loop.IsCompleted) await _loop; // surfaces a failed write
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the writer committed {Next} of {target} transactions within {timeout}");
            await Task.Delay(20);
        }
    }

    /// <summary>Stops after the transaction in progress and returns the number of the next one.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        return Next;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try { await _loop; }
        catch (Exception) { }
        _stop.Dispose();
    }
}
