using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Replication;

/// <summary>
/// Completes a stream RelationMessage from the catalog: type names (format_type of the streamed type and modifier),
/// nullability, and the row's key — the primary key, else the replica-identity index, else every column.
/// </summary>
public sealed class RelationCatalog(NpgsqlDataSource source)
{
    public async Task<RelationSchema> DescribeAsync(RelationMessage message, CancellationToken ct)
    {
        var columns = message.Columns;
        var oids = new uint[columns.Count];
        var mods = new int[columns.Count];
        var names = new string[columns.Count];
        for (var i = 0; i < columns.Count; i++)
            (oids[i], mods[i], names[i]) = (columns[i].DataTypeId, columns[i].TypeModifier, columns[i].ColumnName);

        await using var cmd = source.CreateCommand("""
            SELECT t.ord, format_type(t.oid, t.mod), coalesce(NOT a.attnotnull, true), coalesce(a.attnum = ANY (pk.indkey), false)
            FROM unnest($2::oid[], $3::int[], $4::text[]) WITH ORDINALITY AS t(oid, mod, name, ord)
            LEFT JOIN pg_attribute a ON a.attrelid = $1 AND a.attname = t.name AND NOT a.attisdropped
            LEFT JOIN pg_index pk ON pk.indrelid = $1 AND pk.indisprimary
            ORDER BY t.ord
            """);
        cmd.Parameters.Add(new() { Value = message.RelationId, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        cmd.Parameters.Add(new() { Value = oids, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid });
        cmd.Parameters.Add(new() { Value = mods });
        cmd.Parameters.Add(new() { Value = names });
        var typeNames = new string[columns.Count];
        var nullable = new bool[columns.Count];
        var inPrimaryKey = new bool[columns.Count];
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var i = (int)r.GetInt64(0) - 1;
                (typeNames[i], nullable[i], inPrimaryKey[i]) = (r.GetString(1), r.GetBoolean(2), r.GetBoolean(3));
            }
        }

        var identity = message.ReplicaIdentity switch
        {
            RelationMessage.ReplicaIdentitySetting.AllColumns => 'f',
            RelationMessage.ReplicaIdentitySetting.IndexWithIndIsReplIdent => 'i',
            RelationMessage.ReplicaIdentitySetting.Nothing => 'n',
            _ => 'd',
        };
        // The stream can only carry the replica-identity index's columns for an INDEX identity, so that is the key then.
        var streamKey = columns.Select(c => c.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey)).ToArray();
        var key = identity == 'i' ? streamKey : inPrimaryKey.Any(k => k) ? inPrimaryKey : streamKey.Any(k => k) && identity != 'f' ? streamKey : null;
        var schema = new ColumnSchema[columns.Count];
        for (var i = 0; i < schema.Length; i++)
            schema[i] = new ColumnSchema(names[i], oids[i], mods[i], typeNames[i], nullable[i], key?[i] ?? true);
        return new RelationSchema(message.RelationId, message.Namespace, message.RelationName, identity, schema);
    }

    /// <summary>
    /// Describes a table from the catalog alone, exactly as <see cref="DescribeAsync"/> describes it from the stream (same
    /// columns, types and key, hence the same fingerprint): the columns pgoutput sends (not dropped, not generated) in
    /// attnum order. On a connection that imported a snapshot, it is the table as of that snapshot.
    /// </summary>
    public static async Task<RelationSchema> DescribeTableAsync(NpgsqlConnection conn, uint oid, CancellationToken ct)
    {
        string nspname, relname;
        char identity;
        await using (var cmd = new NpgsqlCommand("""
            SELECT n.nspname, c.relname, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1
            """, conn))
        {
            cmd.Parameters.Add(OidParameter(oid));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) throw new InvalidOperationException($"there is no relation with oid {oid}");
            (nspname, relname, identity) = (r.GetString(0), r.GetString(1), r.GetChar(2));
        }

        var columns = new List<(string Name, uint Oid, int Mod, string Type, bool Nullable, bool InIdentityIndex, bool InPrimaryKey)>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                   coalesce(a.attnum = ANY (ri.indkey), false), coalesce(a.attnum = ANY (pk.indkey), false)
            FROM pg_attribute a
            LEFT JOIN pg_index ri ON ri.indrelid = a.attrelid AND ri.indisreplident
            LEFT JOIN pg_index pk ON pk.indrelid = a.attrelid AND pk.indisprimary
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, conn))
        {
            cmd.Parameters.Add(OidParameter(oid));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
                columns.Add((r.GetString(0), r.GetFieldValue<uint>(1), r.GetInt32(2), r.GetString(3), r.GetBoolean(4), r.GetBoolean(5), r.GetBoolean(6)));
        }

        // DescribeAsync's rule: an INDEX identity keys on that index (what the stream flags); otherwise the primary key,
        // else every column (the stream flags nothing for DEFAULT without a primary key or NOTHING, and all for FULL).
        var hasPrimaryKey = columns.Any(c => c.InPrimaryKey);
        var schema = columns.Select(c => new ColumnSchema(c.Name, c.Oid, c.Mod, c.Type, c.Nullable,
            identity == 'i' ? c.InIdentityIndex : !hasPrimaryKey || c.InPrimaryKey)).ToArray();
        return new RelationSchema(oid, nspname, relname, identity, schema);
    }

    private static NpgsqlParameter OidParameter(uint oid) => new() { Value = oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid };
}
