using PgEgress.Core.Domain;
using Npgsql;
using NpgsqlTypes;

namespace PgEgress.Core.Registry;

/// <summary>cdc_registry.operations: reload requests, their exports, and when the flush lets a reloaded table's held changes flow.</summary>
public sealed class OperationStore(NpgsqlDataSource source)
{
    private const string Columns = """
        id, slot, kind, requested_via, table_oid, table_name, state, marker_lsn, consistent_lsn, attempts, rows, bytes, path, error,
        requested_at, started_at, finished_at, released_at
        """;

    private static NpgsqlParameter Lsn(ulong value) => new() { Value = new NpgsqlLogSequenceNumber(value), NpgsqlDbType = NpgsqlDbType.PgLsn };

    private static OperationRecord Read(NpgsqlDataReader r)
    {
        ulong? Lsn(int i) => r.IsDBNull(i) ? null : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(i);
        DateTime? Time(int i) => r.IsDBNull(i) ? null : r.GetDateTime(i);
        return new OperationRecord(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetFieldValue<uint>(4), TableName.ParseStored(r.GetString(5)),
            r.GetString(6), Lsn(7), Lsn(8), r.GetInt32(9), r.IsDBNull(10) ? null : r.GetInt64(10), r.IsDBNull(11) ? null : r.GetInt64(11),
            r.IsDBNull(12) ? null : r.GetString(12), r.IsDBNull(13) ? null : r.GetString(13), r.GetDateTime(14), Time(15), Time(16), Time(17));
    }

    private async Task<List<OperationRecord>> QueryAsync(string where, CancellationToken ct, params object[] args)
    {
        await using var cmd = source.CreateCommand($"SELECT {Columns} FROM cdc_registry.operations WHERE {where}");
        foreach (var a in args) cmd.Parameters.Add(a as NpgsqlParameter ?? new NpgsqlParameter { Value = a });
        var list = new List<OperationRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(Read(r));
        return list;
    }

    public async Task<OperationRecord?> GetAsync(long id, CancellationToken ct) =>
        (await QueryAsync("id = $1", ct, id)).SingleOrDefault();

    /// <summary>Operations the flush must respect: their marker is staged and the changes they hold back are not yet released.</summary>
    public Task<List<OperationRecord>> GetHoldsAsync(string slot, CancellationToken ct) =>
        QueryAsync("slot = $1 AND marker_lsn IS NOT NULL AND released_at IS NULL ORDER BY marker_lsn, id", ct, slot);

    /// <summary>
    /// Operations whose marker is staged and whose export has not finished (an interrupted or failed one is run again,
    /// 10 s after its last start, doubling with each attempt, so a short outage does not use up its attempts).
    /// </summary>
    public Task<List<OperationRecord>> GetPendingExportsAsync(string slot, CancellationToken ct) =>
        QueryAsync("""
            slot = $1 AND marker_lsn IS NOT NULL AND state IN ('requested', 'exporting')
            AND (attempts = 0 OR started_at IS NULL OR started_at < now() - interval '5 seconds' * power(2, least(attempts, 8)))
            ORDER BY id
            """, ct, slot);

    /// <summary>Those of <paramref name="ids"/> whose export has not finished, whatever their backoff.</summary>
    public Task<List<OperationRecord>> GetUnfinishedAsync(IReadOnlyList<long> ids, CancellationToken ct) =>
        QueryAsync("id = ANY ($1) AND state IN ('requested', 'exporting') ORDER BY id", ct, ids.ToArray());

    /// <summary>Every unfinished or unreleased operation and the most recent finished ones, newest first.</summary>
    public Task<List<OperationRecord>> GetRecentAsync(string slot, int finished, CancellationToken ct) =>
        QueryAsync("""
            slot = $1 AND (released_at IS NULL OR id IN (
                SELECT id FROM cdc_registry.operations WHERE slot = $1 AND released_at IS NOT NULL ORDER BY id DESC LIMIT $2))
            ORDER BY id DESC
            """, ct, slot, finished);

    /// <summary>
    /// Asks for a reload of <paramref name="table"/> through cdc_registry.request_reload_for: the table is looked up by
    /// its exact schema and name as bind parameters, never spliced into SQL.
    /// </summary>
    public async Task<ReloadRequest> RequestAsync(string slot, TableName table, string via, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        uint? oid;
        await using (var resolve = new NpgsqlCommand("""
            SELECT c.oid, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2
            """, conn, tx)
        {
            Parameters = { new() { Value = table.Schema }, new() { Value = table.Name } },
        })
        {
            await using var r = await resolve.ExecuteReaderAsync(ct);
            oid = await r.ReadAsync(ct) && r.GetString(1) is "r" or "p" ? r.GetFieldValue<uint>(0) : null;
        }
        if (oid is null) return ReloadRequest.NotFound($"no table '{table}' exists in the source database");
        await using var request = new NpgsqlCommand("SELECT operation_id, created FROM cdc_registry.request_reload_for($1, $2::oid::regclass, $3)", conn, tx)
        {
            Parameters = { new() { Value = slot }, new() { Value = oid.Value, NpgsqlDbType = NpgsqlDbType.Oid }, new() { Value = via } },
        };
        long id;
        bool created;
        try
        {
            await using var r = await request.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            (id, created) = (r.GetInt64(0), r.GetBoolean(1));
        }
        catch (PostgresException e) when (e.SqlState == "55000")
        {
            return ReloadRequest.Conflict(e.MessageText);
        }
        await tx.CommitAsync(ct);
        return ReloadRequest.Accepted((await GetAsync(id, ct))!, created);
    }

    /// <summary>Null when <paramref name="table"/> is a table of <paramref name="publication"/>; else why not, and whether the table exists.</summary>
    public async Task<(bool Exists, string Problem)?> PublishedAsync(string publication, TableName table, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2 AND c.relname = $3 AND c.relkind IN ('r', 'p')),
                   EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)
            """);
        cmd.Parameters.Add(new() { Value = publication });
        cmd.Parameters.Add(new() { Value = table.Schema });
        cmd.Parameters.Add(new() { Value = table.Name });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        if (!r.GetBoolean(0)) return (false, $"no table '{table}' exists in the source database");
        return r.GetBoolean(1) ? null : (true, $"table '{table}' is not in publication '{publication}'");
    }

    /// <summary>The first start's initial load: one operation per published table, all at the new slot's consistent point.</summary>
    /// <remarks>Created before the slot, as requested with the marker at 0/0 (everything streamed is held); a repeat finds them already there.</remarks>
    public async Task<List<OperationRecord>> CreateInitialLoadAsync(string slot, IReadOnlyList<(uint Oid, TableName Table)> tables, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var ids = new List<long>();
        foreach (var (oid, table) in tables)
        {
            await using var cmd = new NpgsqlCommand("""
                WITH op AS (
                    INSERT INTO cdc_registry.operations (slot, kind, requested_via, table_oid, table_name, marker_lsn)
                    VALUES ($1, 'initial_load', 'initial', $2, $3, '0/0')
                    ON CONFLICT (slot, table_oid) WHERE state IN ('requested', 'exporting') DO NOTHING RETURNING id),
                state AS (
                    INSERT INTO cdc_registry.table_state (table_name, mode, schema_version, schema_fingerprint) VALUES ($3, 'pending_reload', 0, '')
                    ON CONFLICT (table_name) DO UPDATE SET mode = 'pending_reload', updated_at = now())
                SELECT id FROM op
                """, conn, tx)
            {
                Parameters = { new() { Value = slot }, new() { Value = oid, NpgsqlDbType = NpgsqlDbType.Oid }, new() { Value = table.ToString() } },
            };
            if (await cmd.ExecuteScalarAsync(ct) is long id) ids.Add(id);
        }
        await tx.CommitAsync(ct);
        return await QueryAsync("slot = $1 AND kind = 'initial_load' AND state IN ('requested', 'exporting') ORDER BY id", ct, slot);
    }

    /// <summary>Operations about to export under the snapshot at <paramref name="consistentLsn"/> (a re-run takes a fresh one).</summary>
    public async Task StartExportAsync(IReadOnlyList<long> ids, ulong consistentLsn, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            WITH op AS (
                UPDATE cdc_registry.operations SET state = 'exporting', consistent_lsn = $2, attempts = attempts + 1, started_at = now(), error = NULL
                WHERE id = ANY ($1) RETURNING table_name)
            UPDATE cdc_registry.table_state t SET mode = 'reloading', updated_at = now() FROM op WHERE t.table_name = op.table_name
            """);
        cmd.Parameters.Add(new() { Value = ids.ToArray() });
        cmd.Parameters.Add(Lsn(consistentLsn));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>An export that failed: retried by the next run while attempts remain, else failed for good (its held changes then flow on).</summary>
    public async Task FailAsync(long id, string error, bool final, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            WITH op AS (
                UPDATE cdc_registry.operations SET error = $2, state = CASE WHEN $3 THEN 'failed' ELSE state END,
                    finished_at = CASE WHEN $3 THEN now() END
                WHERE id = $1 AND state IN ('requested', 'exporting') RETURNING table_name)
            UPDATE cdc_registry.table_state t SET mode = 'streaming', updated_at = now() FROM op WHERE $3 AND t.table_name = op.table_name
            """);
        cmd.Parameters.Add(new() { Value = id });
        cmd.Parameters.Add(new() { Value = error });
        cmd.Parameters.Add(new() { Value = final });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The schema version a reload file of <paramref name="table"/> with this shape gets: the current one, or the next when the shape changed.</summary>
    public async Task<int> SchemaVersionForAsync(TableName table, string fingerprint, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT CASE WHEN schema_fingerprint = $2 THEN schema_version ELSE schema_version + 1 END
            FROM cdc_registry.table_state WHERE table_name = $1
            """);
        cmd.Parameters.Add(new() { Value = table.ToString() });
        cmd.Parameters.Add(new() { Value = fingerprint });
        return await cmd.ExecuteScalarAsync(ct) is int v ? v : 1;
    }

    /// <summary>
    /// Registers a reload file and completes its operation in one transaction, under the slot's flush lock so that a
    /// running flush never interleaves its table_state update with this one. The table is back to streaming from here.
    /// </summary>
    public async Task CompleteAsync(long id, FileRecord file, string fingerprint, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var take = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(hashtext('pgegress.flush.' || (SELECT slot FROM cdc_registry.operations WHERE id = $1)))", conn, tx)
        {
            Parameters = { new() { Value = id } },
        })
            await take.ExecuteNonQueryAsync(ct);
        await using var batch = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new("""
                    INSERT INTO cdc_registry.file_log (table_name, batch, path, file_type, start_lsn, end_lsn, rows, bytes, sha256, has_ddl, schema_version)
                    VALUES ($1, $2, $3, 'full_reload', $4, $4, $5, $6, $7, false, $8)
                    ON CONFLICT (path) DO NOTHING
                    """)
                {
                    Parameters =
                    {
                        new() { Value = file.Table.ToString() }, new() { Value = file.Batch }, new() { Value = file.Path }, Lsn(file.EndLsn),
                        new() { Value = file.Rows }, new() { Value = file.Bytes }, new() { Value = file.Sha256 }, new() { Value = file.SchemaVersion },
                    },
                },
                new("UPDATE cdc_registry.operations SET state = 'completed', finished_at = now(), rows = $2, bytes = $3, path = $4, error = NULL WHERE id = $1")
                {
                    Parameters = { new() { Value = id }, new() { Value = file.Rows }, new() { Value = file.Bytes }, new() { Value = file.Path } },
                },
                new("""
                    INSERT INTO cdc_registry.table_state AS t (table_name, mode, schema_version, schema_fingerprint, files, rows, bytes, last_batch, last_end_lsn)
                    VALUES ($1, 'streaming', $2, $3, 1, $4, $5, $6, $7)
                    ON CONFLICT (table_name) DO UPDATE SET mode = 'streaming', schema_version = excluded.schema_version,
                        schema_fingerprint = excluded.schema_fingerprint, files = t.files + 1, rows = t.rows + excluded.rows,
                        bytes = t.bytes + excluded.bytes, last_batch = excluded.last_batch,
                        last_end_lsn = greatest(t.last_end_lsn, excluded.last_end_lsn), updated_at = now()
                    """)
                {
                    Parameters =
                    {
                        new() { Value = file.Table.ToString() }, new() { Value = file.SchemaVersion }, new() { Value = fingerprint }, new() { Value = file.Rows },
                        new() { Value = file.Bytes }, new() { Value = file.Batch }, Lsn(file.EndLsn),
                    },
                },
            },
        };
        await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }
}
