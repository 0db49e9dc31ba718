using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Domain;

namespace PgEgress.Core.Verification;

/// <summary>cdc_registry.verifications and its discrepancies: requests, claims (SKIP LOCKED), outcomes.</summary>
public sealed class VerificationStore(NpgsqlDataSource source)
{
    private const string Columns = """
        id, table_name, state, requested_by, repair, consistent_lsn::text, rows_scanned, file_rows, buckets_compared, buckets_bisected,
        missing_in_files, only_in_files, different, duration_ms, error, repair_path, reload_operation_id, requested_at, started_at, finished_at
        """;

    public async Task<VerificationRecord> RequestAsync(string slot, TableName table, string requestedBy, bool repair, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand($"INSERT INTO cdc_registry.verifications (slot, table_name, requested_by, repair) VALUES ($1, $2, $3, $4) RETURNING {Columns}");
        cmd.Parameters.Add(new() { Value = slot });
        cmd.Parameters.Add(new() { Value = table.ToString() });
        cmd.Parameters.Add(new() { Value = requestedBy });
        cmd.Parameters.Add(new() { Value = repair });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return Read(r);
    }

    /// <summary>Marks the oldest requested verification of the slot running and returns it; null when none waits. A running one
    /// left by a process that died is taken again (a crashed run wrote nothing but its spill files).</summary>
    public async Task<VerificationRecord?> ClaimAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand($"""
            UPDATE cdc_registry.verifications SET state = 'running', started_at = now()
            WHERE id = (SELECT id FROM cdc_registry.verifications WHERE slot = $1 AND state IN ('requested', 'running') ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING {Columns}
            """);
        cmd.Parameters.Add(new() { Value = slot });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? Read(r) : null;
    }

    public async Task FinishAsync(long id, VerificationOutcome outcome, TimeSpan duration, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand("""
            UPDATE cdc_registry.verifications SET state = $2, consistent_lsn = $3, rows_scanned = $4, file_rows = $5, buckets_compared = $6,
                buckets_bisected = $7, missing_in_files = $8, only_in_files = $9, different = $10, duration_ms = $11, error = $12,
                repair_path = $13, reload_operation_id = $14, finished_at = now()
            WHERE id = $1
            """, conn, tx))
        {
            var skipped = outcome.Skipped is not null;
            cmd.Parameters.Add(new() { Value = id });
            cmd.Parameters.Add(new() { Value = skipped ? VerificationRecord.Skipped : VerificationRecord.Completed });
            cmd.Parameters.Add(new() { Value = outcome.ConsistentLsn == 0 ? DBNull.Value : new NpgsqlLogSequenceNumber(outcome.ConsistentLsn), NpgsqlDbType = NpgsqlDbType.PgLsn });
            foreach (var v in new[] { outcome.RowsScanned, outcome.FileRows, outcome.BucketsCompared, outcome.BucketsBisected, outcome.MissingInFiles, outcome.OnlyInFiles, outcome.Different })
                cmd.Parameters.Add(new() { Value = skipped ? DBNull.Value : v, NpgsqlDbType = NpgsqlDbType.Bigint });
            cmd.Parameters.Add(new() { Value = (long)duration.TotalMilliseconds });
            cmd.Parameters.Add(new() { Value = (object?)outcome.Skipped ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new() { Value = (object?)outcome.RepairPath ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new() { Value = (object?)outcome.ReloadOperationId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
            await cmd.ExecuteNonQueryAsync(ct);
        }
        if (outcome.Sample.Count > 0)
        {
            await using var insert = new NpgsqlCommand("""
                INSERT INTO cdc_registry.verification_discrepancies (verification_id, n, kind, key, columns)
                SELECT $1, n, kind, key, CASE WHEN columns = '' THEN NULL ELSE string_to_array(columns, E'\x1f') END
                FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS d(kind, key, columns, n)
                ON CONFLICT DO NOTHING
                """, conn, tx);
            insert.Parameters.Add(new() { Value = id });
            insert.Parameters.Add(new() { Value = outcome.Sample.Select(d => d.Kind).ToArray() });
            insert.Parameters.Add(new() { Value = outcome.Sample.Select(d => d.Key).ToArray() });
            insert.Parameters.Add(new() { Value = outcome.Sample.Select(d => string.Join('\x1f', d.Columns ?? [])).ToArray() });
            await insert.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    public async Task FailAsync(long id, string error, TimeSpan duration, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("UPDATE cdc_registry.verifications SET state = 'failed', error = $2, duration_ms = $3, finished_at = now() WHERE id = $1");
        cmd.Parameters.Add(new() { Value = id });
        cmd.Parameters.Add(new() { Value = error });
        cmd.Parameters.Add(new() { Value = (long)duration.TotalMilliseconds });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>One verification of the slot with its discrepancy sample; null when unknown.</summary>
    public async Task<VerificationRecord?> GetAsync(string slot, long id, CancellationToken ct)
    {
        VerificationRecord record;
        await using (var cmd = source.CreateCommand($"SELECT {Columns} FROM cdc_registry.verifications WHERE id = $1 AND slot = $2"))
        {
            cmd.Parameters.Add(new() { Value = id });
            cmd.Parameters.Add(new() { Value = slot });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) return null;
            record = Read(r);
        }
        var sample = new List<Discrepancy>();
        await using (var cmd = source.CreateCommand("SELECT kind, key, columns FROM cdc_registry.verification_discrepancies WHERE verification_id = $1 ORDER BY n"))
        {
            cmd.Parameters.Add(new() { Value = id });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) sample.Add(new Discrepancy(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetFieldValue<string[]>(2)));
        }
        return record with { Discrepancies = sample };
    }

    /// <summary>The newest verification of each table of the slot (for /api/status).</summary>
    public async Task<List<VerificationRecord>> LatestPerTableAsync(string slot, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand($"SELECT DISTINCT ON (table_name) {Columns} FROM cdc_registry.verifications WHERE slot = $1 ORDER BY table_name, id DESC");
        cmd.Parameters.Add(new() { Value = slot });
        var list = new List<VerificationRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(Read(r));
        return list;
    }

    /// <summary>The tables the registry tracks (table_state), which a schedule verifies.</summary>
    public async Task<List<string>> TablesAsync(CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT table_name FROM cdc_registry.table_state ORDER BY table_name");
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(r.GetString(0));
        return list;
    }

    private static VerificationRecord Read(NpgsqlDataReader r)
    {
        long? L(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        DateTime? T(int i) => r.IsDBNull(i) ? null : r.GetDateTime(i);
        return new VerificationRecord(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetBoolean(4), S(5),
            L(6), L(7), L(8), L(9), L(10), L(11), L(12), L(13) is { } ms ? ms / 1000.0 : null, S(14), S(15), L(16), r.GetDateTime(17), T(18), T(19));
    }

    /// <summary>A row's key as a JSON object of its text values.</summary>
    public static string KeyJson(TableShape shape, string?[] values) =>
        System.Text.Json.JsonSerializer.Serialize(shape.Key.ToDictionary(i => shape.Columns[i], i => values[i]));
}
