using Npgsql;

namespace PgEgress.Core.Pipeline;

/// <summary>
/// A session advisory lock on a connection of its own, released on dispose. Released explicitly: a pooled connection
/// goes back to the pool with its session state, so a lock left on it would block the next taker until that connection
/// happened to be reused and reset.
/// </summary>
public sealed class AdvisoryLock : IAsyncDisposable
{
    private readonly NpgsqlConnection _conn;
    private readonly string _key;
    private readonly ShutdownBudget _shutdown;

    private AdvisoryLock(NpgsqlConnection conn, string key, ShutdownBudget shutdown) => (_conn, _key, _shutdown) = (conn, key, shutdown);

    /// <summary>Waits for the lock on <paramref name="key"/> (hashed with hashtext); the unlock runs within <paramref name="shutdown"/>.</summary>
    public static async Task<AdvisoryLock> TakeAsync(NpgsqlDataSource source, string key, ShutdownBudget shutdown, CancellationToken ct) =>
        (await TakeAsync(source, key, wait: true, shutdown, ct))!;

    /// <summary>The lock, or null when another session holds it.</summary>
    public static Task<AdvisoryLock?> TryTakeAsync(NpgsqlDataSource source, string key, ShutdownBudget shutdown, CancellationToken ct) =>
        TakeAsync(source, key, wait: false, shutdown, ct);

    private static async Task<AdvisoryLock?> TakeAsync(NpgsqlDataSource source, string key, bool wait, ShutdownBudget shutdown, CancellationToken ct)
    {
        var conn = await source.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand(wait ? "SELECT pg_advisory_lock(hashtext($1))::text" : "SELECT pg_try_advisory_lock(hashtext($1))::text", conn)
            {
                Parameters = { new() { Value = key } },
                CommandTimeout = 0, // waiting for a running flush or export is the point
            };
            var taken = (string?)await cmd.ExecuteScalarAsync(ct) is "" or "true";
            if (taken) return new AdvisoryLock(conn, key, shutdown);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
        await conn.DisposeAsync();
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock(hashtext($1))", _conn) { Parameters = { new() { Value = _key } } };
            await cmd.ExecuteNonQueryAsync(_shutdown.Token);
        }
        catch (NpgsqlException)
        {
            // A broken connection is not returned to the pool, and its session (and lock) ends with it.
        }
        catch (OperationCanceledException) when (_shutdown.Token.IsCancellationRequested)
        {
            // The shutdown budget ran out: the process is exiting, and its connections (and the lock) close with it.
        }
        finally
        {
            await _conn.DisposeAsync();
        }
    }
}
