using PgEgress.Core.Domain;

namespace PgEgress.Core.Registry;

/// <summary>
/// Migration 3: the registry names a table by <see cref="TableName"/>'s quoted form instead of "schema.table" with bare
/// parts, which made "x.y".z and x."y.z" one table. cdc_registry.table_name() prints it exactly as
/// <see cref="TableName.ToString"/> does (same keyword list), so SQL and the engine agree on every key. Existing rows are
/// converted: a bare name that one current table spells is that table; any other splits at its first dot, as before.
/// The functions that name tables use it from migrations 4 and 5 on.
/// </summary>
internal static class TableNameMigration
{
    public static string Sql => $$"""
        CREATE FUNCTION cdc_registry.quote_name(p text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $fn$
            SELECT CASE WHEN p ~ '^[a-z_][a-z0-9_]*$' AND p <> ALL (ARRAY[{{string.Join(",", SqlKeywords.NeedQuoting.Order(StringComparer.Ordinal).Select(k => $"'{k}'"))}}])
                        THEN p ELSE '"' || replace(p, '"', '""') || '"' END
        $fn$;

        CREATE FUNCTION cdc_registry.table_name(p_schema text, p_name text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $fn$
            SELECT cdc_registry.quote_name(p_schema) || '.' || cdc_registry.quote_name(p_name)
        $fn$;

        CREATE FUNCTION cdc_registry.table_name(p_table oid) RETURNS text
        LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $fn$
            SELECT cdc_registry.table_name(n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table
        $fn$;

        CREATE TEMPORARY TABLE legacy_names ON COMMIT DROP AS
        SELECT legacy, COALESCE(
                   (SELECT min(cdc_registry.table_name(n.nspname, c.relname)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname || '.' || c.relname = legacy HAVING count(*) = 1),
                   cdc_registry.table_name(split_part(legacy, '.', 1), substr(legacy, strpos(legacy, '.') + 1))) AS name
        FROM (SELECT table_name FROM cdc_registry.file_log UNION SELECT table_name FROM cdc_registry.table_state
              UNION SELECT table_name FROM cdc_registry.operations UNION SELECT table_name FROM cdc_registry.ddl_history) t(legacy)
        WHERE strpos(legacy, '.') > 0;
        UPDATE cdc_registry.file_log f SET table_name = l.name FROM legacy_names l WHERE f.table_name = l.legacy AND l.name <> l.legacy;
        UPDATE cdc_registry.table_state t SET table_name = l.name FROM legacy_names l WHERE t.table_name = l.legacy AND l.name <> l.legacy;
        UPDATE cdc_registry.operations o SET table_name = l.name FROM legacy_names l WHERE o.table_name = l.legacy AND l.name <> l.legacy;
        UPDATE cdc_registry.ddl_history d SET table_name = l.name FROM legacy_names l WHERE d.table_name = l.legacy AND l.name <> l.legacy;
        COMMENT ON COLUMN cdc_registry.file_log.table_name IS 'The table, schema and name each as quote_ident prints it: public.orders, public."Order Lines", "x.y".z.';
        COMMENT ON COLUMN cdc_registry.table_state.table_name IS 'The table, as in file_log.table_name.';
        """;
}
