using System.Data;
using System.Text.RegularExpressions;
using Npgsql;

namespace PgEgress.Core.Reload;

/// <summary>
/// Connections that all read the database as of one exported snapshot: each is in a REPEATABLE READ transaction
/// whose first statement imported it. Once <see cref="OpenAsync"/> returns, the replication connection that exported
/// the snapshot may move on or close; the imported transactions keep their view until they end (at dispose).
/// A connection runs one statement at a time: hand each to one user at a time.
/// </summary>
public sealed partial class SnapshotWorkers : IAsyncDisposable
{
    private readonly NpgsqlConnection[] _connections;

    private SnapshotWorkers(string snapshotName, DateTime snapshotTime, NpgsqlConnection[] connections)
    {
        SnapshotName = snapshotName;
        SnapshotTime = snapshotTime;
        _connections = connections;
    }

    public string SnapshotName { get; }

    /// <summary>now() of the first worker's transaction, in UTC: the _commit_ts of every reload row.</summary>
    public DateTime SnapshotTime { get; }

    public IReadOnlyList<NpgsqlConnection> Connections => _connections;

    /// <param name="snapshotName">As the slot's creation returned it, e.g. 00000003-00000002-1.</param>
    /// <param name="count">Connections to open. The data source's Command Timeout still bounds the wait for a COPY's first bytes.</param>
    public static async Task<SnapshotWorkers> OpenAsync(NpgsqlDataSource source, string snapshotName, int count, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(source);
        // The name is spliced into SET TRANSACTION SNAPSHOT (it cannot be a parameter), so only the server's own form passes.
        if (snapshotName is null || !SnapshotNamePattern().IsMatch(snapshotName))
            throw new ArgumentException($"'{snapshotName}' is not an exported snapshot name", nameof(snapshotName));
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);

        var connections = new List<NpgsqlConnection>(count);
        try
        {
            var snapshotTime = default(DateTime);
            for (var i = 0; i < count; i++)
            {
                var conn = await source.OpenConnectionAsync(ct);
                connections.Add(conn);
                var now = await ImportAsync(conn, snapshotName, ct);
                if (i == 0) snapshotTime = now;
            }
            return new SnapshotWorkers(snapshotName, snapshotTime, [.. connections]);
        }
        catch
        {
            foreach (var conn in connections) await conn.DisposeAsync();
            throw;
        }
    }

    private static async Task<DateTime> ImportAsync(NpgsqlConnection conn, string snapshotName, CancellationToken ct)
    {
        await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
        // Must be the transaction's first statement, and a statement of its own (a later query in the same batch could
        // be parsed, taking a snapshot, before it runs).
        await using (var import = new NpgsqlCommand($"SET TRANSACTION SNAPSHOT '{snapshotName}'", conn))
            await import.ExecuteNonQueryAsync(ct);
        // A worker COPYs for as long as its ranges take and idles in its transaction between them and while others finish:
        // role or database timeouts meant for applications must not end the export.
        await using var cmd = new NpgsqlCommand(
            "SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0; SELECT now()", conn);
        return (DateTime)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Ends the transactions (rolled back: they only read) and returns the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var conn in _connections) await conn.DisposeAsync();
    }

    [GeneratedRegex("^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")]
    private static partial Regex SnapshotNamePattern();
}
