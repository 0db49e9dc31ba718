using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// Makes sure a relation's target table can take its rows, inside the apply transaction (so DDL commits or rolls back with
/// the changes, and never waits on locks that transaction holds): checks that it exists with every column; with
/// CreateTables, creates it or adds the missing columns.
/// </summary>
internal static class TargetTableSetup
{
    public static async Task PrepareAsync(NpgsqlConnection conn, string sink, bool createTables, TargetStatements table, ILogger logger, CancellationToken ct)
    {
        var relation = table.Relation;
        bool schemaExists;
        string[]? existing;
        await using (var cmd = new NpgsqlCommand("""
            SELECT n.oid IS NOT NULL,
                   CASE WHEN c.oid IS NOT NULL THEN ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) END
            FROM (SELECT) AS one
            LEFT JOIN pg_namespace n ON n.nspname = $1
            LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $2
            """, conn))
        {
            cmd.Parameters.Add(new() { Value = relation.Namespace });
            cmd.Parameters.Add(new() { Value = relation.Name });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            schemaExists = r.GetBoolean(0);
            existing = r.IsDBNull(1) ? null : r.GetFieldValue<string[]>(1);
        }

        var hint = $"PgEgress:Sinks:{sink}:CreateTables=true";
        if (existing is null)
        {
            if (!createTables)
                throw new InvalidOperationException($"Sink '{sink}': the target table {relation.QualifiedName} does not exist; create it or set {hint}");
            await RequireTypesAsync(conn, sink, table, relation.Columns.Select(c => c.TypeName), ct);
            var columns = relation.Columns.Select(c => $"{Sql.Ident(c.Name)} {c.TypeName}{(c.Nullable ? "" : " NOT NULL")}").ToList();
            if (table.HasRealKey)
                columns.Add($"PRIMARY KEY ({string.Join(", ", relation.Columns.Where(c => c.IsKey).Select(c => Sql.Ident(c.Name)))})");
            // Only when missing: CREATE SCHEMA IF NOT EXISTS still demands the right to create schemas.
            var createSchema = schemaExists ? "" : $"CREATE SCHEMA IF NOT EXISTS {Sql.Ident(relation.Namespace)}; ";
            await ExecAsync(conn, sink, relation.QualifiedName, $"{createSchema}CREATE TABLE IF NOT EXISTS {table.Table} ({string.Join(", ", columns)})", ct);
            logger.LogInformation("Sink {Sink}: created the target table {Table}", sink, relation.QualifiedName);
            return;
        }

        var missing = relation.Columns.Where(c => !existing.Contains(c.Name)).ToList();
        if (missing.Count == 0) return;
        var names = string.Join(", ", missing.Select(c => c.Name));
        if (!createTables)
            throw new InvalidOperationException($"Sink '{sink}': the target table {relation.QualifiedName} lacks the column(s) {names}; add them or set {hint}");
        await RequireTypesAsync(conn, sink, table, missing.Select(c => c.TypeName), ct);
        // Nullable whatever the source says: the target's existing rows have no value for a new column.
        await ExecAsync(conn, sink, relation.QualifiedName, $"ALTER TABLE {table.Table} {string.Join(", ", missing.Select(c => $"ADD COLUMN IF NOT EXISTS {Sql.Ident(c.Name)} {c.TypeName}"))}", ct);
        logger.LogInformation("Sink {Sink}: added the column(s) {Columns} to the target table {Table}", sink, names, relation.QualifiedName);
    }

    // A user-defined type (an enum, a domain) is not created here; say which one is missing rather than fail on the DDL.
    private static async Task RequireTypesAsync(NpgsqlConnection conn, string sink, TargetStatements table, IEnumerable<string> typeNames, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT array_agg(t ORDER BY t) FROM unnest($1::text[]) AS t WHERE to_regtype(t) IS NULL", conn);
        cmd.Parameters.Add(new() { Value = typeNames.Distinct().ToArray() });
        if (await cmd.ExecuteScalarAsync(ct) is string[] missing)
            throw new InvalidOperationException(
                $"Sink '{sink}': cannot create the target table {table.Relation.QualifiedName}: the type(s) {string.Join(", ", missing)} do not exist in the target; create them there first");
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sink, string table, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        try
        {
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e)
        {
            throw new InvalidOperationException($"Sink '{sink}': could not create or alter the target table {table}: {e.MessageText}", e);
        }
    }
}
