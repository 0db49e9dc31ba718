using Npgsql;
using NpgsqlTypes;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// pgegress.sink_cursor in the target: per sink, the end LSN of the last source transaction applied, written in the same
/// transaction as its changes, so the target itself knows exactly where it is.
/// </summary>
internal static class SinkCursorTable
{
    public const string Name = "pgegress.sink_cursor";

    /// <summary>Creates the table when missing and the sink's row at 0/0, so there is always a row to lock.</summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, string sink, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using (var check = new NpgsqlCommand($"SELECT to_regclass('{Name}') IS NOT NULL", conn))
        {
            // Skipping the DDL when the table is there lets a sink run without the right to create schemas.
            if (!(bool)(await check.ExecuteScalarAsync(ct))!)
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                // Two sinks starting together would otherwise race on the catalog's unique indexes.
                await using var create = new NpgsqlCommand($"""
                    SELECT pg_advisory_xact_lock(hashtext('{Name}'));
                    CREATE SCHEMA IF NOT EXISTS pgegress;
                    CREATE TABLE IF NOT EXISTS {Name} (sink text PRIMARY KEY, lsn pg_lsn NOT NULL, updated_at timestamptz);
                    """, conn, tx);
                await create.ExecuteNonQueryAsync(ct);
                await tx.CommitAsync(ct);
            }
        }
        await using var row = new NpgsqlCommand($"INSERT INTO {Name} (sink, lsn, updated_at) VALUES ($1, '0/0', now()) ON CONFLICT (sink) DO NOTHING", conn);
        row.Parameters.Add(new() { Value = sink });
        await row.ExecuteNonQueryAsync(ct);
    }

    public static async Task<ulong> ReadAsync(NpgsqlConnection conn, string sink, bool forUpdate, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT lsn FROM {Name} WHERE sink = $1{(forUpdate ? " FOR UPDATE" : "")}", conn);
        cmd.Parameters.Add(new() { Value = sink });
        return await cmd.ExecuteScalarAsync(ct) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    /// <summary>The statement that moves the cursor; an upsert, in case the row was deleted since <see cref="EnsureAsync"/>.</summary>
    public static NpgsqlBatchCommand Write(string sink, ulong lsn) => new($"""
        INSERT INTO {Name} (sink, lsn, updated_at) VALUES ($1, $2, now())
        ON CONFLICT (sink) DO UPDATE SET lsn = EXCLUDED.lsn, updated_at = EXCLUDED.updated_at
        """)
    {
        Parameters = { new() { Value = sink }, new() { Value = new NpgsqlLogSequenceNumber(lsn), NpgsqlDbType = NpgsqlDbType.PgLsn } },
    };
}
