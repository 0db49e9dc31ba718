using Npgsql;

namespace PgEgress.Core.Registry;

/// <summary>Applies the registry migrations that have not run yet, one transaction each, serialised by an advisory lock.</summary>
public static class RegistryMigrator
{
    public static Task<int> MigrateAsync(NpgsqlDataSource source, CancellationToken ct) => MigrateAsync(source, int.MaxValue, ct);

    /// <summary>Applies the migrations up to <paramref name="through"/>: a test of one migration starts from the registry before it.</summary>
    internal static async Task<int> MigrateAsync(NpgsqlDataSource source, int through, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        var applied = 0;
        foreach (var (version, name, sql) in RegistryMigrations.All.Where(m => m.Version <= through).OrderBy(m => m.Version))
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using (var setup = new NpgsqlCommand("""
                SELECT pg_advisory_xact_lock(hashtext('cdc_registry.migrations'));
                CREATE SCHEMA IF NOT EXISTS cdc_registry;
                CREATE TABLE IF NOT EXISTS cdc_registry.schema_migrations (
                    version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
                """, conn, tx))
                await setup.ExecuteNonQueryAsync(ct);
            await using var check = new NpgsqlCommand("SELECT 1 FROM cdc_registry.schema_migrations WHERE version = $1", conn, tx)
            {
                Parameters = { new() { Value = version } },
            };
            if (await check.ExecuteScalarAsync(ct) is not null)
            {
                await tx.RollbackAsync(ct);
                continue;
            }
            await using (var migrate = new NpgsqlCommand(sql, conn, tx)) await migrate.ExecuteNonQueryAsync(ct);
            await using (var record = new NpgsqlCommand("INSERT INTO cdc_registry.schema_migrations (version, name) VALUES ($1, $2)", conn, tx)
            {
                Parameters = { new() { Value = version }, new() { Value = name } },
            })
                await record.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            applied++;
        }
        return applied;
    }
}
