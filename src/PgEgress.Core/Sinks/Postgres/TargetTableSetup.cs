using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Replication;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// Makes sure a relation's target table can take its rows, inside the apply transaction (so DDL commits or rolls back with
/// the changes, and never waits on locks that transaction holds): checks that it exists with every column; with
/// CreateTables, creates it or adds the missing columns. Column types are the target's: an existing column's type as the
/// target has it; a new one's resolved on the target (to_regtype of the stream's type name, with its modifier) and
/// written by the target's format_type, so no type name from the stream is ever spliced into SQL.
/// </summary>
internal static class TargetTableSetup
{
    /// <summary>Returns, for each of the relation's columns, its type on the target as SQL (format_type output).</summary>
    /// <exception cref="TargetTableException">The table cannot take the relation's rows; the message says why.</exception>
    public static async Task<string[]> PrepareAsync(NpgsqlConnection conn, string sink, bool createTables, RelationSchema relation, ILogger logger, CancellationToken ct)
    {
        bool schemaExists;
        Dictionary<string, string>? existing;
        await using (var cmd = new NpgsqlCommand("""
            SELECT n.oid IS NOT NULL,
                   CASE WHEN c.oid IS NOT NULL THEN ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum) END,
                   CASE WHEN c.oid IS NOT NULL THEN ARRAY(SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum) END
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
            existing = r.IsDBNull(1) ? null
                : r.GetFieldValue<string[]>(1).Zip(r.GetFieldValue<string[]>(2)).ToDictionary(c => c.First, c => c.Second, StringComparer.Ordinal);
        }

        var table = relation.QualifiedName;
        var quoted = TargetStatements.QuotedName(relation);
        var hint = $"PgEgress:Sinks:{sink}:CreateTables=true";
        if (existing is null)
        {
            if (!createTables)
                throw new TargetTableException(table, $"Sink '{sink}': the target table {table} does not exist; create it or set {hint}");
            var types = await ResolveTypesAsync(conn, sink, relation, relation.Columns, ct);
            var columns = relation.Columns.Select((c, i) => $"{Sql.Ident(c.Name)} {types[i]}{(c.Nullable ? "" : " NOT NULL")}").ToList();
            if (TargetStatements.HasRealKeyOf(relation))
                columns.Add($"PRIMARY KEY ({string.Join(", ", relation.Columns.Where(c => c.IsKey).Select(c => Sql.Ident(c.Name)))})");
            // Only when missing: CREATE SCHEMA IF NOT EXISTS still demands the right to create schemas.
            var createSchema = schemaExists ? "" : $"CREATE SCHEMA IF NOT EXISTS {Sql.Ident(relation.Namespace)}; ";
            await ExecAsync(conn, sink, table, $"{createSchema}CREATE TABLE IF NOT EXISTS {quoted} ({string.Join(", ", columns)})", ct);
            logger.LogInformation("Sink {Sink}: created the target table {Table}", sink, table);
            return types;
        }

        var missing = relation.Columns.Where(c => !existing.ContainsKey(c.Name)).ToList();
        if (missing.Count > 0)
        {
            var names = string.Join(", ", missing.Select(c => c.Name));
            if (!createTables)
                throw new TargetTableException(table, $"Sink '{sink}': the target table {table} lacks the column(s) {names}; add them or set {hint}");
            var types = await ResolveTypesAsync(conn, sink, relation, missing, ct);
            // Nullable whatever the source says: the target's existing rows have no value for a new column.
            await ExecAsync(conn, sink, table, $"ALTER TABLE {quoted} {string.Join(", ", missing.Select((c, i) => $"ADD COLUMN IF NOT EXISTS {Sql.Ident(c.Name)} {types[i]}"))}", ct);
            logger.LogInformation("Sink {Sink}: added the column(s) {Columns} to the target table {Table}", sink, names, table);
            for (var i = 0; i < missing.Count; i++) existing[missing[i].Name] = types[i];
        }
        return [.. relation.Columns.Select(c => existing[c.Name])];
    }

    // A user-defined type (an enum, a domain) is not created here; say which one is missing rather than fail on the DDL.
    private static async Task<string[]> ResolveTypesAsync(NpgsqlConnection conn, string sink, RelationSchema relation, IReadOnlyList<ColumnSchema> columns, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT format_type(to_regtype(t.name), t.mod) FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(name, mod, i) ORDER BY t.i", conn);
        cmd.Parameters.Add(new() { Value = columns.Select(c => c.TypeName).ToArray() });
        cmd.Parameters.Add(new() { Value = columns.Select(c => c.TypeModifier).ToArray() });
        var types = new string?[columns.Count];
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(ct);
            for (var i = 0; await r.ReadAsync(ct); i++) types[i] = r.IsDBNull(0) ? null : r.GetString(0);
        }
        catch (PostgresException e) when (!TargetTableException.IsTransient(e))
        {
            throw new TargetTableException(relation.QualifiedName,
                $"Sink '{sink}': the target cannot read the type names of table {relation.QualifiedName} ({string.Join(", ", columns.Select(c => c.TypeName).Distinct())}): {e.MessageText}", e);
        }
        var absent = columns.Where((_, i) => types[i] is null).Select(c => c.TypeName).Distinct().Order(StringComparer.Ordinal).ToList();
        if (absent.Count > 0)
            throw new TargetTableException(relation.QualifiedName,
                $"Sink '{sink}': cannot create the target table {relation.QualifiedName}: the type(s) {string.Join(", ", absent)} do not exist in the target; create them there first");
        return types!;
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sink, string table, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        try
        {
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (!TargetTableException.IsTransient(e))
        {
            throw new TargetTableException(table, $"Sink '{sink}': could not create or alter the target table {table}: {e.MessageText}", e);
        }
    }
}
