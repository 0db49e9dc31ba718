using PgEgress.Core.Domain;
using PgEgress.Core.Pipeline;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Reload;
using Npgsql.Replication.PgOutput;

namespace PgEgress.Core.Replication;

/// <summary>
/// Makes the source ready before anything streams: checks the server version, wal_level, the REPLICATION
/// privilege and the encoding; applies the registry migrations; ensures the publication (never publishing the
/// registry's own tables), the DDL event triggers (when the role may create them) and the slot. A new slot starts the
/// initial load: every published table gets an operation, exported under the slot's snapshot or under one of its own
/// (<see cref="InitialLoadSnapshotPolicy"/>).
/// </summary>
public sealed class SourceSetup(
    PgEgressOptions pipeline,
    NpgsqlDataSource source,
    RegistryStore registry,
    OperationStore operations,
    InitialLoadSnapshot initial,
    ILogger<SourceSetup> logger)
{
    private readonly SourceOptions options = pipeline.Source;

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
        await registry.SetPipelineAsync(options.Slot, options.Publication, ct);
        await EnsureEventTriggersAsync(conn, ct);
        await CheckOperatorRoleAsync(conn, ct);
        await EnsureSlotAsync(conn, ct);
    }

    /// <summary>
    /// cdc_registry.request_reload is granted to the role pgegress_operator, which the registry migration creates when
    /// the source role may (CREATEROLE). Without it only the function's owner can ask for reloads in SQL: say how to fix it.
    /// </summary>
    private async Task CheckOperatorRoleAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgegress_operator')
                        THEN has_function_privilege('pgegress_operator', 'cdc_registry.request_reload(regclass, text)', 'EXECUTE') END
            """, conn);
        if (await cmd.ExecuteScalarAsync(ct) is true) return;
        logger.LogWarning("SQL reload requests are limited to the owner of cdc_registry.request_reload: the role pgegress_operator is missing or lacks it. Have a role with CREATEROLE run: CREATE ROLE pgegress_operator NOLOGIN; then the owner: GRANT USAGE ON SCHEMA cdc_registry TO pgegress_operator; GRANT EXECUTE ON FUNCTION cdc_registry.request_reload(regclass, text) TO pgegress_operator;");
    }

    /// <summary>
    /// Event triggers are database-wide and need a superuser. Without them streaming works as before, but DDL is not
    /// written to ddl.sql and COMMENT ON TABLE … IS 'pgegress:reload' does nothing, so say so.
    /// </summary>
    private async Task EnsureEventTriggersAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                   (SELECT count(*) FROM pg_event_trigger WHERE evtname IN ('pgegress_capture_ddl', 'pgegress_capture_drop'))
            """, conn);
        bool superuser;
        long existing;
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            await r.ReadAsync(ct);
            (superuser, existing) = (r.GetBoolean(0), r.GetInt64(1));
        }
        if (existing == 2) return;
        if (!superuser)
        {
            logger.LogWarning("DDL capture is off: event triggers need a superuser. Have one run: CREATE EVENT TRIGGER pgegress_capture_ddl ON ddl_command_end EXECUTE FUNCTION cdc_registry.capture_ddl(); CREATE EVENT TRIGGER pgegress_capture_drop ON sql_drop EXECUTE FUNCTION cdc_registry.capture_drop();");
            return;
        }
        await using var create = new NpgsqlCommand("""
            SELECT pg_advisory_xact_lock(hashtext('cdc_registry.migrations'));
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'pgegress_capture_ddl') THEN
                    CREATE EVENT TRIGGER pgegress_capture_ddl ON ddl_command_end EXECUTE FUNCTION cdc_registry.capture_ddl();
                END IF;
                IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'pgegress_capture_drop') THEN
                    CREATE EVENT TRIGGER pgegress_capture_drop ON sql_drop EXECUTE FUNCTION cdc_registry.capture_drop();
                END IF;
            END $$;
            """, conn);
        await using var tx = await conn.BeginTransactionAsync(ct);
        create.Transaction = tx;
        await create.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
        logger.LogInformation("Created the DDL capture event triggers");
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
            foreach (var name in options.Tables) tables.Add(await ResolveTableAsync(conn, TableName.Parse(name), ct));
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

    /// <summary>Checks that a configured table exists and is one; its quoted name is what the publication lists.</summary>
    private static async Task<string> ResolveTableAsync(NpgsqlConnection conn, TableName name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2
            """, conn)
        {
            Parameters = { new() { Value = name.Schema }, new() { Value = name.Name } },
        };
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await r.ReadAsync(ct))
                throw new PipelineSetupException($"PgEgress:Source:Tables has '{name}', but no such table exists in the source database");
            if (r.GetString(1) is not ("r" or "p"))
                throw new PipelineSetupException($"PgEgress:Source:Tables has '{name}', which is not a table");
            var qualified = r.GetString(0);
            if (name.Schema == "cdc_registry")
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

    /// <summary>The publication's tables, largest first is the exporter's business; here only OID and registry name.</summary>
    private async Task<List<(uint Oid, TableName Table)>> PublishedTablesAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT c.oid, n.nspname, c.relname
            FROM pg_publication_tables pt
            JOIN pg_namespace n ON n.nspname = pt.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
            WHERE pt.pubname = $1 ORDER BY 2, 3
            """, conn)
        {
            Parameters = { new() { Value = options.Publication } },
        };
        var list = new List<(uint, TableName)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add((r.GetFieldValue<uint>(0), new TableName(r.GetString(1), r.GetString(2))));
        return list;
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
        // The initial load's operations exist before the slot: a crash in between leaves them to be exported under a
        // fresh snapshot, never a slot whose tables were silently not loaded.
        var load = pipeline.Reload.InitialLoad ? await operations.CreateInitialLoadAsync(options.Slot, await PublishedTablesAsync(conn, ct), ct) : [];
        // Under FreshSnapshotPerTable the operations stay requested: the coordinator exports each under a snapshot of its own.
        var underSlotSnapshot = load.Count > 0 && initial.Policy == InitialLoadSnapshotPolicy.SlotSnapshot;
        var repl = new LogicalReplicationConnection(options.ConnectionString);
        PgOutputReplicationSlot slot;
        try
        {
            await repl.Open(ct);
            slot = await repl.CreatePgOutputReplicationSlot(options.Slot,
                slotSnapshotInitMode: underSlotSnapshot ? LogicalSlotSnapshotInitMode.Export : LogicalSlotSnapshotInitMode.NoExport, cancellationToken: ct);
            if (underSlotSnapshot)
            {
                await operations.StartExportAsync([.. load.Select(o => o.Id)], (ulong)slot.ConsistentPoint, ct);
                // The connection stays open and idle: the snapshot lives until the export workers have imported it.
                initial.Offer(new InitialLoadSnapshot.Lease(repl, slot.SnapshotName!, (ulong)slot.ConsistentPoint,
                    [.. load.Select(o => o with { State = OperationRecord.Exporting, ConsistentLsn = (ulong)slot.ConsistentPoint, Attempts = o.Attempts + 1 })]));
                logger.LogInformation("Initial load of {Count} table(s) at {Lsn}", load.Count, Output.PgText.Lsn((ulong)slot.ConsistentPoint));
            }
            else
            {
                await repl.DisposeAsync();
                if (load.Count > 0) logger.LogInformation("Initial load of {Count} table(s), each under a snapshot of its own", load.Count);
            }
        }
        catch (PostgresException e)
        {
            await repl.DisposeAsync();
            // Typically max_replication_slots or max_wal_senders exhausted; PostgreSQL's hint says what to do.
            throw new PipelineSetupException($"cannot create replication slot '{options.Slot}': {e.MessageText}{(e.Hint is { Length: > 0 } hint ? $" ({hint})" : "")}", e);
        }
        catch
        {
            await repl.DisposeAsync();
            throw;
        }
        logger.LogInformation("Created replication slot {Slot}", options.Slot);
    }
}
