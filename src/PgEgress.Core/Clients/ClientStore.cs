using Npgsql;
using NpgsqlTypes;

namespace PgEgress.Core.Clients;

/// <summary>
/// cdc_registry.clients and the clients' cursors. A client's cursor is a cursors row like a sink's, so the flush deletes
/// no staged segment an active client has not acknowledged; ending a client (disconnect, TTL, retention cap) deletes
/// that row in the same transaction as the state change.
/// </summary>
public sealed class ClientStore(NpgsqlDataSource source)
{
    private const string Select = """
        SELECT c.id, c.name, c.tables, c.operations, c.secret_sha256, c.ttl, c.state, c.state_reason, c.created_at, c.last_seen, c.ended_at,
               k.lsn, (SELECT min(s.created_at) FROM cdc_registry.segments s WHERE s.slot = c.slot AND s.end_lsn > k.lsn)
        FROM cdc_registry.clients c
        LEFT JOIN cdc_registry.cursors k ON k.slot = c.slot AND k.consumer = 'client:' || c.id
        """;

    private static NpgsqlParameter Lsn(ulong value) => new() { Value = new NpgsqlLogSequenceNumber(value), NpgsqlDbType = NpgsqlDbType.PgLsn };

    private static ClientRecord Read(NpgsqlDataReader r)
    {
        ClientId.TryParse(r.GetString(0), out var id);
        DateTime Utc(int i) => DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc);
        return new ClientRecord(id ?? throw new InvalidDataException($"cdc_registry.clients has a malformed id '{r.GetString(0)}'"),
            r.GetString(1), r.GetFieldValue<string[]>(2), r.GetFieldValue<string[]>(3), r.GetString(4), r.GetTimeSpan(5), r.GetString(6),
            r.IsDBNull(7) ? null : r.GetString(7), Utc(8), Utc(9), r.IsDBNull(10) ? null : Utc(10),
            r.IsDBNull(11) ? null : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(11), r.IsDBNull(12) ? null : Utc(12));
    }

    /// <summary>
    /// Registers a client and its cursor in one transaction. The cursor starts at the registration's start: "now" (the
    /// staged position), "earliest" (the lowest cursor of the slot: everything still staged) or an explicit LSN, which
    /// must not be below that lowest cursor (older segments may be deleted already); those two wait for a running flush.
    /// Returns the cursor, or null with the lowest cursor when the LSN is below it (nothing is written then).
    /// </summary>
    public async Task<(ulong? Cursor, ulong Earliest)> RegisterAsync(string slot, ClientId id, ClientRegistration registration, string secretSha256,
        TimeSpan ttl, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (registration.StartKind != "now")
        {
            // A start at the lowest cursor must not race the flush's deletion: were that cursor released meanwhile
            // (a client ending), a flush could delete past it before this one is visible. The flush holds this lock
            // throughout, so the registration waits for a running flush and none starts before it commits.
            await using var wait = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext($1))", conn, tx) { CommandTimeout = 0 };
            wait.Parameters.Add(new() { Value = Batching.BatchFlusher.LockKey(slot) });
            await wait.ExecuteNonQueryAsync(ct);
        }
        ulong? cursor;
        ulong earliest;
        await using (var cmd = new NpgsqlCommand("""
            WITH floor AS (SELECT coalesce(min(lsn), '0/0') AS lsn FROM cdc_registry.cursors WHERE slot = $1),
            staged AS (SELECT greatest(coalesce(max(end_lsn), '0/0'),
                                       coalesce((SELECT lsn FROM cdc_registry.cursors WHERE slot = $1 AND consumer = 'flush'), '0/0')) AS lsn
                       FROM cdc_registry.segments WHERE slot = $1),
            start AS (SELECT CASE $3 WHEN 'now' THEN greatest(staged.lsn, floor.lsn) WHEN 'earliest' THEN floor.lsn ELSE $4 END AS lsn, floor.lsn AS floor
                      FROM staged, floor),
            cursor AS (INSERT INTO cdc_registry.cursors (slot, consumer, lsn) SELECT $1, $2, lsn FROM start WHERE lsn >= floor RETURNING lsn)
            SELECT (SELECT lsn FROM cursor), (SELECT floor FROM start)
            """, conn, tx))
        {
            cmd.Parameters.Add(new() { Value = slot });
            cmd.Parameters.Add(new() { Value = id.Consumer });
            cmd.Parameters.Add(new() { Value = registration.StartKind });
            cmd.Parameters.Add(Lsn(registration.StartLsn ?? 0));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            cursor = r.IsDBNull(0) ? null : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
            earliest = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1);
        }
        if (cursor is null) return (null, earliest);
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO cdc_registry.clients (id, slot, name, tables, operations, secret_sha256, ttl) VALUES ($1, $2, $3, $4, $5, $6, $7)
            """, conn, tx))
        {
            insert.Parameters.Add(new() { Value = id.ToString() });
            insert.Parameters.Add(new() { Value = slot });
            insert.Parameters.Add(new() { Value = registration.Name });
            insert.Parameters.Add(new() { Value = registration.TableNames.ToArray() });
            insert.Parameters.Add(new() { Value = registration.OperationNames.ToArray() });
            insert.Parameters.Add(new() { Value = secretSha256 });
            insert.Parameters.Add(new() { Value = ttl, NpgsqlDbType = NpgsqlDbType.Interval });
            await insert.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return (cursor, earliest);
    }

    public async Task<ClientRecord?> GetAsync(string slot, ClientId id, CancellationToken ct) =>
        (await QueryAsync("WHERE c.slot = $1 AND c.id = $2", ct, slot, id.ToString())).SingleOrDefault();

    /// <summary>Every client of the slot, oldest registration first.</summary>
    public Task<List<ClientRecord>> ListAsync(string slot, CancellationToken ct) => QueryAsync("WHERE c.slot = $1 ORDER BY c.created_at, c.id", ct, slot);

    /// <summary>Every client of the slot as the API shows it, lag measured against <paramref name="staged"/>.</summary>
    public async Task<List<ClientStatus>> StatusesAsync(string slot, ulong staged, DateTime now, CancellationToken ct) =>
        [.. (await ListAsync(slot, ct)).Select(c => ClientStatus.From(c, staged, now))];

    private async Task<List<ClientRecord>> QueryAsync(string where, CancellationToken ct, params object[] args)
    {
        await using var cmd = source.CreateCommand($"{Select} {where}");
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        var list = new List<ClientRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(Read(r));
        return list;
    }

    /// <summary>The client was seen (a ping or a feed request): its TTL starts again.</summary>
    public async Task TouchAsync(string slot, ClientId id, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("UPDATE cdc_registry.clients SET last_seen = now() WHERE slot = $1 AND id = $2 AND state = 'active'");
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = id.ToString() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Moves an active client's cursor forward (never back); returns the cursor, null when it has none (ended).</summary>
    public async Task<ulong?> AckAsync(string slot, ClientId id, ulong lsn, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            UPDATE cdc_registry.cursors SET lsn = greatest(lsn, $3), updated_at = now() WHERE slot = $1 AND consumer = $2 RETURNING lsn
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = id.Consumer });
        cmd.Parameters.Add(Lsn(lsn));
        return await cmd.ExecuteScalarAsync(ct) is NpgsqlLogSequenceNumber cursor ? (ulong)cursor : null;
    }

    /// <summary>Disconnects an active client: its state, and its cursor released, in one transaction. False when it was not active.</summary>
    public async Task<bool> DisconnectAsync(string slot, ClientId id, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            WITH ended AS (
                UPDATE cdc_registry.clients SET state = 'disconnected', state_reason = 'disconnected through the API', ended_at = now()
                WHERE slot = $1 AND id = $2 AND state = 'active' RETURNING id),
            released AS (DELETE FROM cdc_registry.cursors k USING ended e WHERE k.slot = $1 AND k.consumer = 'client:' || e.id)
            SELECT count(*) FROM ended
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = id.ToString() });
        return (long)(await cmd.ExecuteScalarAsync(ct))! > 0;
    }

    /// <summary>
    /// Ends the active clients not seen for their TTL (expired) and those behind the retention cap (lagging-expired),
    /// releasing their cursors in the same statement; returns each ended client with its new state.
    /// </summary>
    public async Task<List<(ClientId Id, string State, string Reason)>> ExpireAsync(string slot, long maxBytes, TimeSpan maxAge, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            WITH staged AS (SELECT coalesce(max(end_lsn), '0/0') AS lsn FROM cdc_registry.segments WHERE slot = $1),
            due AS (
                SELECT c.id, c.last_seen + c.ttl < now() AS stale, c.ttl,
                       pg_wal_lsn_diff(staged.lsn, k.lsn) AS behind,
                       (SELECT min(s.created_at) FROM cdc_registry.segments s WHERE s.slot = $1 AND s.end_lsn > k.lsn) AS oldest
                FROM cdc_registry.clients c
                LEFT JOIN cdc_registry.cursors k ON k.slot = c.slot AND k.consumer = 'client:' || c.id
                CROSS JOIN staged
                WHERE c.slot = $1 AND c.state = 'active'),
            ended AS (
                UPDATE cdc_registry.clients c
                SET state = CASE WHEN d.stale THEN 'expired' ELSE 'lagging-expired' END, ended_at = now(),
                    state_reason = CASE
                        WHEN d.stale THEN 'not seen for its TTL (' || d.ttl || ')'
                        WHEN $2 > 0 AND d.behind > $2 THEN d.behind || ' staged bytes behind, over Clients:MaxRetentionBytes (' || $2 || ')'
                        ELSE 'its oldest unacknowledged staged segment is older than Clients:MaxRetentionAge (' || $3 || ')' END
                FROM due d
                WHERE c.id = d.id AND (d.stale OR ($2 > 0 AND d.behind > $2) OR ($3 > interval '0' AND d.oldest < now() - $3))
                RETURNING c.id, c.state, c.state_reason),
            released AS (DELETE FROM cdc_registry.cursors k USING ended e WHERE k.slot = $1 AND k.consumer = 'client:' || e.id)
            SELECT id, state, state_reason FROM ended ORDER BY id
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = maxBytes });
        cmd.Parameters.Add(new() { Value = maxAge, NpgsqlDbType = NpgsqlDbType.Interval });
        var list = new List<(ClientId, string, string)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            if (ClientId.TryParse(r.GetString(0), out var id)) list.Add((id.Value, r.GetString(1), r.GetString(2)));
        return list;
    }

    /// <summary>Where the oldest staged segment of the slot starts: every transaction ending after it is still staged. Null when none is.</summary>
    public async Task<ulong?> GetRetainedFromAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT min(start_lsn) FROM cdc_registry.segments WHERE slot = $1");
        cmd.Parameters.Add(new() { Value = slot });
        return await cmd.ExecuteScalarAsync(ct) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : null;
    }

    /// <summary>Whether <paramref name="table"/> is in the publication (true), exists outside it (false), or does not exist (null).</summary>
    public async Task<bool?> IsPublishedAsync(string publication, Domain.TableName table, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3),
                   EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2 AND c.relname = $3)
            """);
        cmd.Parameters.Add(new() { Value = publication });
        cmd.Parameters.Add(new() { Value = table.Schema });
        cmd.Parameters.Add(new() { Value = table.Name });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return r.GetBoolean(0) ? true : r.GetBoolean(1) ? false : null;
    }
}
