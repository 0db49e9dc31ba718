using PgEgress.Core.Domain;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace PgEgress.Core.Registry;

/// <summary>Reads and writes the cdc_registry tables. Every write tolerates repeats, so a replayed step is harmless.</summary>
public sealed class RegistryStore(NpgsqlDataSource source)
{
    public const string FlushConsumer = "flush";

    private static NpgsqlParameter Lsn(ulong value) => new() { Value = new NpgsqlLogSequenceNumber(value), NpgsqlDbType = NpgsqlDbType.PgLsn };

    private static ulong Lsn(NpgsqlDataReader r, int i) => (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(i);

    /// <summary>
    /// The end LSN of the last durably staged transaction (or the flush cursor, which remembers it once segments are
    /// deleted), 0 when nothing was staged. Only the flush cursor counts: a sink's cursor can come from outside (a
    /// Postgres target's own), and must never make the consumer skip WAL.
    /// </summary>
    public async Task<ulong> GetStagedLsnAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT greatest((SELECT max(end_lsn) FROM cdc_registry.segments WHERE slot = $1),
                            (SELECT lsn FROM cdc_registry.cursors WHERE slot = $1 AND consumer = 'flush'))
            """);
        cmd.Parameters.Add(new() { Value = slot });
        var value = await cmd.ExecuteScalarAsync(ct);
        return value is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    /// <summary>
    /// Registers a staged segment and, in the same transaction, the stream position of every reload marker it holds:
    /// from then on the flush holds those tables' changes back, and nothing can see the one without the other. A
    /// replayed segment registers its markers again harmlessly (a position once recorded stays).
    /// </summary>
    public async Task RegisterSegmentAsync(SegmentRecord s, IReadOnlyList<StagedReloadMarker> markers, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new("""
                    INSERT INTO cdc_registry.segments (slot, start_lsn, end_lsn, path, txns, changes, bytes, sha256)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT DO NOTHING
                    """)
                {
                    Parameters =
                    {
                        new() { Value = s.Slot }, Lsn(s.StartLsn), Lsn(s.EndLsn), new() { Value = s.Path }, new() { Value = s.Transactions },
                        new() { Value = s.Changes }, new() { Value = s.Bytes }, new() { Value = s.Sha256 },
                    },
                },
            },
        };
        foreach (var marker in markers)
            batch.BatchCommands.Add(marker.Request is { } request
                // The marker can be decoded before its request's commit is visible here (a synchronous standby delays
                // visibility, not decoding): an UPDATE would match nothing and lose the request. The insert's conflict on
                // the request's own row waits for that commit to end, then records the position on the row.
                ? new("""
                    INSERT INTO cdc_registry.operations AS o (id, slot, kind, requested_via, table_oid, table_name, requested_at, marker_lsn)
                    VALUES ($1, $2, 'reload', $3, $4, $5, $6, $7)
                    ON CONFLICT (id) DO UPDATE SET marker_lsn = excluded.marker_lsn WHERE o.slot = excluded.slot AND o.marker_lsn IS NULL
                    """)
                {
                    Parameters =
                    {
                        new() { Value = marker.Operation }, new() { Value = s.Slot }, new() { Value = request.Via },
                        new() { Value = request.TableOid, NpgsqlDbType = NpgsqlDbType.Oid }, new() { Value = request.Table.ToString() },
                        new() { Value = request.RequestedAt.ToUniversalTime() }, Lsn(marker.MarkerLsn),
                    },
                }
                // A marker from before registry version 4 names only the operation.
                : new("UPDATE cdc_registry.operations SET marker_lsn = $2 WHERE id = $1 AND slot = $3 AND marker_lsn IS NULL")
                {
                    Parameters = { new() { Value = marker.Operation }, Lsn(marker.MarkerLsn), new() { Value = s.Slot } },
                });
        await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>Records which publication the slot reads, for the SQL and event-trigger reload paths.</summary>
    public async Task SetPipelineAsync(string slot, string publication, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            INSERT INTO cdc_registry.pipelines (slot, publication) VALUES ($1, $2)
            ON CONFLICT (slot) DO UPDATE SET publication = excluded.publication, updated_at = now()
            WHERE cdc_registry.pipelines.publication IS DISTINCT FROM excluded.publication
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = publication });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Segments holding transactions that end after <paramref name="afterLsn"/>, in LSN order.</summary>
    public async Task<List<SegmentRecord>> GetSegmentsAsync(string slot, ulong afterLsn, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT slot, start_lsn, end_lsn, path, txns, changes, bytes, sha256
            FROM cdc_registry.segments WHERE slot = $1 AND end_lsn > $2 ORDER BY end_lsn
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(Lsn(afterLsn));
        var list = new List<SegmentRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new SegmentRecord(r.GetString(0), Lsn(r, 1), Lsn(r, 2), r.GetString(3), r.GetInt32(4), r.GetInt64(5), r.GetInt64(6), r.GetString(7)));
        return list;
    }

    /// <summary>Where the oldest segment ending after <paramref name="afterLsn"/> starts and when it was registered; null when none is.</summary>
    public async Task<(ulong StartLsn, DateTime RegisteredAt)?> GetOldestSegmentAfterAsync(string slot, ulong afterLsn, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT start_lsn, created_at FROM cdc_registry.segments WHERE slot = $1 AND end_lsn > $2 ORDER BY end_lsn LIMIT 1
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(Lsn(afterLsn));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? (Lsn(r, 0), DateTime.SpecifyKind(r.GetDateTime(1), DateTimeKind.Utc)) : null;
    }

    public async Task<HashSet<string>> GetSegmentPathsAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT path FROM cdc_registry.segments WHERE slot = $1");
        cmd.Parameters.Add(new() { Value = slot });
        var set = new HashSet<string>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) set.Add(r.GetString(0));
        return set;
    }

    /// <summary>
    /// The position every segment ending at or before is no longer needed: the lowest cursor of all consumers, and below
    /// the marker of every reload whose held changes the flush has not yet let through.
    /// </summary>
    public async Task<ulong?> GetLowestCursorAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT least((SELECT min(lsn) FROM cdc_registry.cursors WHERE slot = $1),
                         (SELECT min(retry_from) FROM cdc_registry.flush_failures WHERE slot = $1),
                         (SELECT min(marker_lsn) - 1 FROM cdc_registry.operations
                          WHERE slot = $1 AND marker_lsn IS NOT NULL AND released_at IS NULL AND marker_lsn > '0/0'),
                         (SELECT '0/0'::pg_lsn FROM cdc_registry.operations
                          WHERE slot = $1 AND marker_lsn = '0/0' AND released_at IS NULL LIMIT 1))
            """);
        cmd.Parameters.Add(new() { Value = slot });
        return await cmd.ExecuteScalarAsync(ct) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : null;
    }

    public async Task<List<string>> GetSegmentPathsUpToAsync(string slot, ulong lsn, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT path FROM cdc_registry.segments WHERE slot = $1 AND end_lsn <= $2 ORDER BY end_lsn");
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(Lsn(lsn));
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(r.GetString(0));
        return list;
    }

    public async Task DeleteSegmentAsync(string path, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("DELETE FROM cdc_registry.segments WHERE path = $1");
        cmd.Parameters.Add(new() { Value = path });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<CursorRecord?> GetCursorAsync(string slot, string consumer, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT consumer, lsn, last_cut, updated_at FROM cdc_registry.cursors WHERE slot = $1 AND consumer = $2");
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = consumer });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new CursorRecord(r.GetString(0), Lsn(r, 1), r.IsDBNull(2) ? null : r.GetDateTime(2), r.GetDateTime(3));
    }

    /// <summary>An event sink's cursor with its progress inside the transactions after it; at 0/0 with none when it has no row.</summary>
    public async Task<SinkCursor> GetSinkCursorAsync(string slot, string consumer, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT lsn, partial FROM cdc_registry.cursors WHERE slot = $1 AND consumer = $2");
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = consumer });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return new SinkCursor(0, []);
        return new SinkCursor(Lsn(r, 0), r.IsDBNull(1) ? [] : ParsePartial(consumer, r.GetString(1)));
    }

    private static List<PartialTransaction> ParsePartial(string consumer, string json)
    {
        List<PartialTransaction?>? partial;
        try
        {
            partial = JsonSerializer.Deserialize<List<PartialTransaction?>>(json);
        }
        catch (JsonException e)
        {
            throw BadPartial(consumer, e.Message);
        }
        if (partial is null || partial.Any(p => p is null || p.Through < 0 || p.After is null))
            throw BadPartial(consumer, "each entry needs EndLsn, Through (0 or more) and After (base64)");
        return [.. partial.OfType<PartialTransaction>()];
    }

    private static InvalidDataException BadPartial(string consumer, string why) => new(
        $"cdc_registry.cursors.partial of '{consumer}' is not valid ({why}); set it to NULL to deliver those transactions again from their first event");

    /// <summary>Writes an event sink's cursor and its progress together; a position behind the stored one is ignored.</summary>
    public async Task SaveSinkCursorAsync(string slot, string consumer, SinkCursor cursor, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            INSERT INTO cdc_registry.cursors (slot, consumer, lsn, partial) VALUES ($1, $2, $3, $4)
            ON CONFLICT (slot, consumer) DO UPDATE SET lsn = excluded.lsn, partial = excluded.partial, updated_at = now()
            WHERE cdc_registry.cursors.lsn <= excluded.lsn
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = consumer });
        cmd.Parameters.Add(Lsn(cursor.Lsn));
        cmd.Parameters.Add(new()
        {
            Value = cursor.Partial.Count == 0 ? DBNull.Value : JsonSerializer.Serialize(cursor.Partial),
            NpgsqlDbType = NpgsqlDbType.Jsonb,
        });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<Dictionary<TableName, TableStateRecord>> GetTableStatesAsync(CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT table_name, mode, schema_version, schema_fingerprint, files, rows, bytes, last_batch, last_end_lsn, updated_at
            FROM cdc_registry.table_state ORDER BY table_name
            """);
        var map = new Dictionary<TableName, TableStateRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var table = TableName.ParseStored(r.GetString(0));
            map[table] = new TableStateRecord(table, r.GetString(1), r.GetInt32(2), r.GetString(3), r.GetInt64(4), r.GetInt64(5),
                r.GetInt64(6), r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : Lsn(r, 8), r.GetDateTime(9));
        }
        return map;
    }

    /// <summary>The tables the slot's flush could not write, oldest failure first.</summary>
    public async Task<List<FlushFailureRecord>> GetFlushFailuresAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            SELECT table_name, retry_from, error, first_failed_at, last_failed_at, attempts
            FROM cdc_registry.flush_failures WHERE slot = $1 ORDER BY first_failed_at, table_name
            """);
        cmd.Parameters.Add(new() { Value = slot });
        var list = new List<FlushFailureRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new FlushFailureRecord(slot, TableName.ParseStored(r.GetString(0)), Lsn(r, 1), r.GetString(2), r.GetDateTime(3), r.GetDateTime(4), r.GetInt32(5)));
        return list;
    }

    /// <summary>
    /// Registers a flush in one transaction: its files (a path already registered is left as it is), the tables'
    /// state, the flush cursor, and the reloads whose held changes it let through. Nothing of the flush is visible
    /// before this commits.
    /// </summary>
    public async Task CommitFlushAsync(string slot, IReadOnlyList<FileRecord> files, IReadOnlyDictionary<TableName, (int Version, string Fingerprint)> schemas,
        ulong cursorLsn, DateTime cut, IReadOnlyList<long> releasedOperations, FlushOutcome outcome, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var batch = new NpgsqlBatch(conn, tx);
        foreach (var f in files)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("""
                WITH inserted AS (
                    INSERT INTO cdc_registry.file_log (table_name, batch, path, file_type, start_lsn, end_lsn, rows, bytes, sha256, has_ddl, schema_version)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    ON CONFLICT (path) DO NOTHING
                    RETURNING table_name, rows, bytes, batch, end_lsn)
                UPDATE cdc_registry.table_state t
                SET files = t.files + 1, rows = t.rows + i.rows, bytes = t.bytes + i.bytes, last_batch = i.batch,
                    last_end_lsn = greatest(t.last_end_lsn, i.end_lsn), updated_at = now()
                FROM inserted i WHERE t.table_name = i.table_name
                """)
            {
                Parameters =
                {
                    new() { Value = f.Table.ToString() }, new() { Value = f.Batch }, new() { Value = f.Path }, new() { Value = f.FileType },
                    Lsn(f.StartLsn), Lsn(f.EndLsn), new() { Value = f.Rows }, new() { Value = f.Bytes },
                    new() { Value = f.Sha256 }, new() { Value = f.HasDdl }, new() { Value = f.SchemaVersion },
                },
            });
        }
        foreach (var (table, (version, fingerprint)) in schemas)
        {
            // Before the files: the UPDATE above counts into an existing row.
            batch.BatchCommands.Insert(0, new NpgsqlBatchCommand("""
                INSERT INTO cdc_registry.table_state (table_name, schema_version, schema_fingerprint) VALUES ($1, $2, $3)
                ON CONFLICT (table_name) DO UPDATE SET schema_version = excluded.schema_version,
                    schema_fingerprint = excluded.schema_fingerprint, updated_at = now()
                """)
            {
                Parameters = { new() { Value = table.ToString() }, new() { Value = version }, new() { Value = fingerprint } },
            });
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            INSERT INTO cdc_registry.cursors (slot, consumer, lsn, last_cut) VALUES ($1, $2, $3, $4)
            ON CONFLICT (slot, consumer) DO UPDATE SET lsn = greatest(cdc_registry.cursors.lsn, excluded.lsn),
                last_cut = excluded.last_cut, updated_at = now()
            """)
        {
            Parameters = { new() { Value = slot }, new() { Value = FlushConsumer }, Lsn(cursorLsn), new() { Value = cut } },
        });
        if (releasedOperations.Count > 0)
            batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE cdc_registry.operations SET released_at = now() WHERE id = ANY ($1) AND released_at IS NULL")
            {
                Parameters = { new() { Value = releasedOperations.ToArray() } },
            });
        foreach (var (table, failure) in outcome.Failed)
            batch.BatchCommands.Add(new NpgsqlBatchCommand("""
                WITH state AS (
                    INSERT INTO cdc_registry.table_state (table_name, schema_version, schema_fingerprint) VALUES ($2, 0, '')
                    ON CONFLICT (table_name) DO NOTHING)
                INSERT INTO cdc_registry.flush_failures (slot, table_name, retry_from, error) VALUES ($1, $2, $3, $4)
                ON CONFLICT (slot, table_name) DO UPDATE SET retry_from = least(cdc_registry.flush_failures.retry_from, excluded.retry_from),
                    error = excluded.error, last_failed_at = now(), attempts = cdc_registry.flush_failures.attempts + 1
                """)
            {
                Parameters = { new() { Value = slot }, new() { Value = table.ToString() }, Lsn(failure.RetryFrom), new() { Value = failure.Error } },
            });
        if (outcome.Recovered.Count > 0)
            batch.BatchCommands.Add(new NpgsqlBatchCommand("DELETE FROM cdc_registry.flush_failures WHERE slot = $1 AND table_name = ANY ($2)")
            {
                Parameters = { new() { Value = slot }, new() { Value = outcome.Recovered.Select(t => t.ToString()).ToArray() } },
            });
        await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Creates a consumer's cursor when it has none: at the lowest cursor of the slot (everything still staged), or at
    /// the start when the slot has none yet. Must exist before that consumer's segments could be deleted.
    /// </summary>
    public async Task EnsureCursorAsync(string slot, string consumer, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            INSERT INTO cdc_registry.cursors (slot, consumer, lsn)
            VALUES ($1, $2, coalesce((SELECT min(lsn) FROM cdc_registry.cursors WHERE slot = $1), '0/0'))
            ON CONFLICT (slot, consumer) DO NOTHING
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = consumer });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Moves a consumer's cursor forward (never back).</summary>
    public async Task AdvanceCursorAsync(string slot, string consumer, ulong lsn, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("""
            INSERT INTO cdc_registry.cursors (slot, consumer, lsn) VALUES ($1, $2, $3)
            ON CONFLICT (slot, consumer) DO UPDATE SET lsn = greatest(cdc_registry.cursors.lsn, excluded.lsn), updated_at = now()
            """);
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = consumer });
        cmd.Parameters.Add(Lsn(lsn));
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
