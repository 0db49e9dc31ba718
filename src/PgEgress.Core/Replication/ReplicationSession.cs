using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace PgEgress.Core.Replication;

/// <summary>
/// One open pgoutput stream. It outlives slices: a slice that ends while the server is quiet leaves the read
/// pending (so keepalives keep being answered) and the next slice picks it up.
/// </summary>
internal sealed class ReplicationSession : IAsyncDisposable
{
    private readonly LogicalReplicationConnection _conn;
    private readonly CancellationTokenSource _life = new();
    private IAsyncEnumerator<PgOutputReplicationMessage>? _stream;
    private Task<bool>? _pending;

    private ReplicationSession(LogicalReplicationConnection conn) => _conn = conn;

    public ulong LastReceivedLsn => (ulong)_conn.LastReceivedLsn;

    /// <summary>Whether the server streams large transactions in progress (protocol 2).</summary>
    public bool Streaming { get; private set; }

    /// <param name="streaming">Ask for large transactions to be streamed while in progress (protocol 2, PostgreSQL 14 and
    /// later; ignored below that), instead of the server spilling them to its disk and sending them after their commit.</param>
    public static async Task<ReplicationSession> StartAsync(string connectionString, string slot, string publication, ulong startLsn,
        bool streaming, CancellationToken ct)
    {
        var conn = new LogicalReplicationConnection(connectionString)
        {
            // Ask the server for a keepalive after 5 s of silence, so an idle stream still reports where WAL is.
            WalReceiverTimeout = TimeSpan.FromSeconds(10),
            WalReceiverStatusInterval = TimeSpan.FromSeconds(5),
        };
        try
        {
            await conn.Open(ct);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
        var session = new ReplicationSession(conn);
        var options = streaming && conn.PostgreSqlVersion.Major >= 14
            ? new PgOutputReplicationOptions(publication, PgOutputProtocolVersion.V2, streamingMode: PgOutputStreamingMode.On, messages: true)
            : new PgOutputReplicationOptions(publication, PgOutputProtocolVersion.V1, messages: true);
        session.Streaming = options.StreamingMode == PgOutputStreamingMode.On;
        session._stream = conn.StartReplication(new PgOutputReplicationSlot(slot), options, session._life.Token,
            startLsn == 0 ? null : new NpgsqlLogSequenceNumber(startLsn)).GetAsyncEnumerator(session._life.Token);
        return session;
    }

    public PgOutputReplicationMessage Current => _stream!.Current;

    /// <summary>
    /// Waits for the next message up to <paramref name="timeout"/>: true with a message, false when the wait ended first
    /// (the read stays pending for the next call). The stream ending is an error: the server closed it.
    /// </summary>
    public async Task<bool> NextAsync(TimeSpan timeout, CancellationToken ct)
    {
        _pending ??= _stream!.MoveNextAsync().AsTask();
        if (!_pending.IsCompleted)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var delay = Task.Delay(timeout, wait.Token);
            await Task.WhenAny(_pending, delay);
            wait.Cancel();
            if (!_pending.IsCompleted) return false;
        }
        var task = _pending;
        _pending = null;
        if (!await task) throw new InvalidOperationException("the replication stream ended unexpectedly");
        return true;
    }

    /// <summary>Acknowledges the slot up to <paramref name="lsn"/> and sends it now (a dispose would not send it).</summary>
    public async Task AcknowledgeAsync(ulong lsn, CancellationToken ct)
    {
        _conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn));
        await _conn.SendStatusUpdate(ct);
    }

    public async ValueTask DisposeAsync()
    {
        _life.Cancel();
        if (_pending is not null)
        {
            try { await _pending; }
            catch (Exception e) when (e is OperationCanceledException or NpgsqlException or InvalidOperationException) { }
        }
        if (_stream is not null)
        {
            try { await _stream.DisposeAsync(); }
            catch (Exception e) when (e is OperationCanceledException or NpgsqlException or InvalidOperationException) { }
        }
        await _conn.DisposeAsync();
        _life.Dispose();
    }
}
