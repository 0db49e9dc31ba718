namespace PgEgress.Core.Registry;

/// <summary>
/// The cdc_registry schema, as numbered migrations. Applied at start under an advisory lock; each runs once,
/// in its own transaction, and is recorded in cdc_registry.schema_migrations.
/// </summary>
public static class RegistryMigrations
{
    public const string Schema = "cdc_registry";

    public static readonly IReadOnlyList<(int Version, string Name, string Sql)> All =
    [
        (1, "streaming", """
            CREATE TABLE cdc_registry.segments (
                slot        text        NOT NULL,
                start_lsn   pg_lsn      NOT NULL,
                end_lsn     pg_lsn      NOT NULL,
                path        text        NOT NULL UNIQUE,
                txns        integer     NOT NULL,
                changes     bigint      NOT NULL,
                bytes       bigint      NOT NULL,
                sha256      text        NOT NULL,
                created_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (slot, end_lsn),
                CHECK (start_lsn < end_lsn)
            );
            COMMENT ON TABLE cdc_registry.segments IS 'Staged segments: the durable log between the slot and every consumer.';

            CREATE TABLE cdc_registry.cursors (
                slot        text        NOT NULL,
                consumer    text        NOT NULL,
                lsn         pg_lsn      NOT NULL,
                last_cut    timestamptz,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (slot, consumer)
            );
            COMMENT ON TABLE cdc_registry.cursors IS 'Each consumer''s position: it has processed every transaction ending at or before lsn.';

            CREATE TABLE cdc_registry.file_log (
                id              bigserial   PRIMARY KEY,
                table_name      text        NOT NULL,
                batch           text        NOT NULL,
                path            text        NOT NULL UNIQUE,
                file_type       text        NOT NULL CHECK (file_type IN ('streaming', 'full_reload')),
                start_lsn       pg_lsn      NOT NULL,
                end_lsn         pg_lsn      NOT NULL,
                rows            bigint      NOT NULL,
                bytes           bigint      NOT NULL,
                sha256          text        NOT NULL,
                has_ddl         boolean     NOT NULL DEFAULT false,
                schema_version  integer     NOT NULL,
                created_at      timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX file_log_table_end_lsn ON cdc_registry.file_log (table_name, end_lsn);
            COMMENT ON TABLE cdc_registry.file_log IS 'Every output file, registered after it was written. Loaders trust only this table.';

            CREATE TABLE cdc_registry.table_state (
                table_name          text        PRIMARY KEY,
                mode                text        NOT NULL DEFAULT 'streaming'
                                                CHECK (mode IN ('streaming', 'pending_reload', 'reloading')),
                schema_version      integer     NOT NULL DEFAULT 1,
                schema_fingerprint  text        NOT NULL,
                files               bigint      NOT NULL DEFAULT 0,
                rows                bigint      NOT NULL DEFAULT 0,
                bytes               bigint      NOT NULL DEFAULT 0,
                last_batch          text,
                last_end_lsn        pg_lsn,
                updated_at          timestamptz NOT NULL DEFAULT now()
            );
            """),
    ];
}
