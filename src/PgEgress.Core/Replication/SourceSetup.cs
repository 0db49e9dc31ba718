using PgEgress.Core.Pipeline;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Replication;

/// <summary>
/// Makes the source ready before anything streams: checks the server version, wal_level, the REPLICATION
/// privilege and the encoding; applies the registry migrations; ensures the publication (never publishing the
/// registry's own tables) and the slot.
/// </summary>
public sealed class SourceSetup(SourceOptions options, NpgsqlDataSource source, ILogger logger)
{
    public const int MinimumServerVersion = 140000;

    public async Task RunAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(source, ct);
        await CheckServerAsync(conn, ct);
        int applied;
        try
        {
            applied = await RegistryMigrator.MigrateAsync(source, ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new PipelineSetupException($"the role '{conn.UserName}' cannot set up PgEgress's cdc_registry schema in database '{conn.Database}': {e.MessageText}; run GRANT CREATE ON DATABASE {Sql.Ident(conn.Database)} TO {Sql.Ident(conn.UserName!)}", e);
        }
        if (applied > 0) logger.LogInformation("Applied {Count} cdc_registry migration(s)", applied);
        await EnsurePublicationAsync(conn, ct);
        await EnsureSlotAsync(conn, ct);
    }

    /// <summary>Opens a connection, turning the usual reasons it fails into one clear line.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder(source.ConnectionString);
        var where = $"{builder.Host}:{builder.Port}/{builder.Database}";
        try
        {
            return await source.OpenConnectionAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState is "28P01" or "28000")
        {
            throw new PipelineSetupException($"the source database at {where} refused the login of '{builder.Username}': {e.MessageText}", e);
        }
        catch (PostgresException e) when (e.SqlState == "3D000")
        {
            throw new PipelineSetupException($"the source database {where} does not exist: {e.MessageText}", e);
        }
        catch (NpgsqlException e) when (e.InnerException is SocketException or TimeoutException || e is NpgsqlException { IsTransient: true })
        {
            throw new PipelineSetupException($"cannot reach the source database at {where}: {e.InnerException?.Message ?? e.Message}", e);
        }
    }

    private static async Task CheckServerAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT current_setting('server_version_num')::int, current_setting('server_version'), current_setting('wal_level'),
                   (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), current_user,
                   pg_encoding_to_char(encoding)
            FROM pg_database WHERE datname = current_database()
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var (versionNum, version, walLevel, canReplicate, user, encoding) =
            (r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetBoolean(3), r.GetString(4), r.GetString(5));
        if (versionNum < MinimumServerVersion)
            throw new PipelineSetupException($"the source runs PostgreSQL {version}; PgEgress needs PostgreSQL 14 or later (pgoutput logical messages)");
        if (walLevel != "logical")
            throw new PipelineSetupException($"the source has wal_level={walLevel}; set wal_level=logical (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL");
        if (!canReplicate)
            throw new PipelineSetupException($"the role '{user}' lacks the REPLICATION privilege; run ALTER ROLE {Sql.Ident(user)} REPLICATION");
        if (encoding != "UTF8")
            throw new PipelineSetupException($"the source database uses encoding {encoding}; PgEgress writes UTF-8 and needs a UTF8 database");
    }

    private async Task EnsurePublicationAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using (var find = new NpgsqlCommand("SELECT puballtables FROM pg_publication WHERE pubname = $1", conn)
        {
            Parameters = { new() { Value = options.Publication } },
        })
        {
            if (await find.ExecuteScalarAsync(ct) is bool allTables)
            {
                if (allTables)
                    throw new PipelineSetupException($"publication '{options.Publication}' is FOR ALL TABLES, which also publishes PgEgress's own cdc_registry tables; use a publication for specific tables or schemas");
                await using var registry = new NpgsqlCommand(
                    "SELECT count(*) FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'cdc_registry'", conn)
                {
                    Parameters = { new() { Value = options.Publication } },
                };
                if ((long)(await registry.ExecuteScalarAsync(ct))! > 0)
                    throw new PipelineSetupException($"publication '{options.Publication}' publishes tables of the cdc_registry schema; remove them (ALTER PUBLICATION … DROP TABLE / DROP TABLES IN SCHEMA cdc_registry)");
                return;
            }
        }

        string target;
        if (options.Tables.Count > 0)
        {
            var tables = new List<string>();
            foreach (var name in options.Tables) tables.Add(await ResolveTableAsync(conn, name, ct));
            target = "FOR TABLE " + string.Join(", ", tables);
        }
        else
        {
            var schemas = options.Schemas.Count > 0 ? options.Schemas : await UserSchemasAsync(conn, ct);
            if (schemas.Contains("cdc_registry"))
                throw new PipelineSetupException("PgEgress:Source:Schemas lists cdc_registry, PgEgress's own registry; it cannot be published");
            foreach (var schema in schemas) await CheckSchemaExistsAsync(conn, schema, ct);
            target = "FOR TABLES IN SCHEMA " + string.Join(", ", schemas.Select(Sql.Ident));
        }
        await using var create = new NpgsqlCommand(
            $"CREATE PUBLICATION {Sql.Ident(options.Publication)} {target} WITH (publish_via_partition_root = true)", conn);
        try
        {
            await create.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == "42501")
        {
            throw new PipelineSetupException($"cannot create publication '{options.Publication}': {e.MessageText}; create it yourself or grant the privilege", e);
        }
        logger.LogInformation("Created publication {Publication} {Target}", options.Publication, target);
    }

    /// <summary>Resolves "schema.table" to its quoted, qualified name, or fails clearly; the name is never spliced into SQL unresolved.</summary>
    private static async Task<string> ResolveTableAsync(NpgsqlConnection conn, string name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass($1)
            """, conn)
        {
            Parameters = { new() { Value = name } },
        };
        NpgsqlDataReader r;
        try
        {
            r = await cmd.ExecuteReaderAsync(ct);
        }
        catch (PostgresException e)
        {
            throw new PipelineSetupException($"PgEgress:Source:Tables has '{name}', which is not a valid table name: {e.MessageText}", e);
        }
        await using (r)
        {
            if (!await r.ReadAsync(ct))
                throw new PipelineSetupException($"PgEgress:Source:Tables has '{name}', but no such table exists in the source database");
            if (r.GetString(1) is not ("r" or "p"))
                throw new PipelineSetupException($"PgEgress:Source:Tables has '{name}', which is not a table");
            var qualified = r.GetString(0);
            if (qualified.StartsWith("cdc_registry.", StringComparison.Ordinal))
                throw new PipelineSetupException($"PgEgress:Source:Tables has '{name}', which belongs to PgEgress's own registry");
            return qualified;
        }
    }

    private static async Task<List<string>> UserSchemasAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT nspname FROM pg_namespace
            WHERE nspname NOT IN ('cdc_registry', 'information_schema') AND nspname NOT LIKE 'pg\_%'
            ORDER BY nspname
            """, conn);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(r.GetString(0));
        return list;
    }

    private static async Task CheckSchemaExistsAsync(NpgsqlConnection conn, string schema, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT 1 FROM pg_namespace WHERE nspname = $1", conn) { Parameters = { new() { Value = schema } } };
        if (await cmd.ExecuteScalarAsync(ct) is null)
            throw new PipelineSetupException($"PgEgress:Source:Schemas has '{schema}', but no such schema exists in the source database");
    }

    private async Task EnsureSlotAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT plugin, database, slot_type FROM pg_replication_slots WHERE slot_name = $1", conn)
        {
            Parameters = { new() { Value = options.Slot } },
        };
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            if (await r.ReadAsync(ct))
            {
                var (plugin, database, type) = (r.IsDBNull(0) ? "" : r.GetString(0), r.IsDBNull(1) ? "" : r.GetString(1), r.GetString(2));
                if (type != "logical" || plugin != "pgoutput")
                    throw new PipelineSetupException($"replication slot '{options.Slot}' exists but is a {type} slot with plugin '{plugin}'; PgEgress needs a logical pgoutput slot — choose another PgEgress:Source:Slot");
                if (database != conn.Database)
                    throw new PipelineSetupException($"replication slot '{options.Slot}' belongs to database '{database}', not '{conn.Database}'");
                return;
            }
        }
        await using var repl = new LogicalReplicationConnection(options.ConnectionString);
        try
        {
            await repl.Open(ct);
            await repl.CreatePgOutputReplicationSlot(options.Slot, slotSnapshotInitMode: LogicalSlotSnapshotInitMode.NoExport, cancellationToken: ct);
        }
        catch (PostgresException e)
        {
            // Typically max_replication_slots or max_wal_senders exhausted; PostgreSQL's hint says what to do.
            throw new PipelineSetupException($"cannot create replication slot '{options.Slot}': {e.MessageText}{(e.Hint is { Length: > 0 } hint ? $" ({hint})" : "")}", e);
        }
        logger.LogInformation("Created replication slot {Slot}", options.Slot);
    }
}
