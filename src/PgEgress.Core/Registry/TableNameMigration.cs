using PgEgress.Core.Domain;

namespace PgEgress.Core.Registry;

/// <summary>
/// Migration 3: the registry names a table by <see cref="TableName"/>'s quoted form instead of "schema.table" with bare
/// parts, which made "x.y".z and x."y.z" one table. cdc_registry.table_name() prints it exactly as
/// <see cref="TableName.ToString"/> does (same keyword list), so SQL and the engine agree on every key. Existing rows are
/// converted: a bare name that one current table spells is that table; any other splits at its first dot, as before.
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

        CREATE OR REPLACE FUNCTION cdc_registry.request_reload_for(p_slot text, p_table regclass, p_via text)
        RETURNS TABLE (operation_id bigint, created boolean)
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
        DECLARE
            pub text;
            qualified text;
            existing bigint;
            op bigint;
        BEGIN
            SELECT publication INTO pub FROM cdc_registry.pipelines WHERE slot = p_slot;
            IF pub IS NULL THEN
                RAISE EXCEPTION 'no PgEgress pipeline uses slot %', p_slot USING ERRCODE = 'P0002';
            END IF;
            SELECT cdc_registry.table_name(n.nspname, c.relname) INTO qualified
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_publication_tables pt ON pt.schemaname = n.nspname AND pt.tablename = c.relname AND pt.pubname = pub
            WHERE c.oid = p_table;
            IF qualified IS NULL THEN
                RAISE EXCEPTION 'table % is not in publication %', p_table, pub USING ERRCODE = '55000';
            END IF;
            PERFORM pg_advisory_xact_lock(hashtext('pgegress.reload.' || p_slot || '.' || p_table::oid::text));
            SELECT o.id INTO existing FROM cdc_registry.operations o
            WHERE o.slot = p_slot AND o.table_oid = p_table AND o.state IN ('requested', 'exporting');
            IF existing IS NOT NULL THEN
                RETURN QUERY SELECT existing, false;
                RETURN;
            END IF;
            INSERT INTO cdc_registry.operations (slot, kind, requested_via, table_oid, table_name)
            VALUES (p_slot, 'reload', p_via, p_table, qualified) RETURNING id INTO op;
            INSERT INTO cdc_registry.table_state (table_name, mode, schema_version, schema_fingerprint)
            VALUES (qualified, 'pending_reload', 0, '')
            ON CONFLICT (table_name) DO UPDATE SET mode = 'pending_reload', updated_at = now();
            PERFORM pg_logical_emit_message(true, 'pgegress',
                json_build_object('type', 'reload', 'slot', p_slot, 'operation', op, 'table', qualified)::text);
            RETURN QUERY SELECT op, true;
        END
        $fn$;

        CREATE OR REPLACE FUNCTION cdc_registry.capture_ddl() RETURNS event_trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
        DECLARE
            cmd record;
            p record;
        BEGIN
            FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
                BEGIN
                    IF cmd.schema_name = 'cdc_registry' THEN
                        CONTINUE;
                    ELSIF cmd.object_type = 'publication relation' THEN
                        FOR p IN SELECT pl.slot, pr.prrelid FROM pg_publication_rel pr
                                 JOIN pg_publication pb ON pb.oid = pr.prpubid
                                 JOIN cdc_registry.pipelines pl ON pl.publication = pb.pubname
                                 WHERE pr.oid = cmd.objid LOOP
                            PERFORM cdc_registry.request_reload_for(p.slot, p.prrelid::regclass, 'publication');
                        END LOOP;
                    ELSIF cmd.object_type = 'publication namespace' THEN
                        -- ADD TABLES IN SCHEMA: every table of the schema joins the publication with its rows.
                        FOR p IN SELECT pl.slot, c.oid AS relid FROM pg_publication_namespace pn
                                 JOIN pg_publication pb ON pb.oid = pn.pnpubid
                                 JOIN cdc_registry.pipelines pl ON pl.publication = pb.pubname
                                 JOIN pg_class c ON c.relnamespace = pn.pnnspid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                                 WHERE pn.oid = cmd.objid LOOP
                            PERFORM cdc_registry.request_reload_for(p.slot, p.relid::regclass, 'publication');
                        END LOOP;
                    ELSIF cmd.classid <> 'pg_class'::regclass THEN
                        CONTINUE;
                    ELSIF cmd.command_tag = 'COMMENT' THEN
                        IF obj_description(cmd.objid, 'pg_class') = 'pgegress:reload' THEN
                            PERFORM cdc_registry.request_reload(cmd.objid::regclass, 'comment');
                        END IF;
                    ELSIF cmd.object_type IN ('table', 'table column') THEN
                        FOR p IN SELECT pl.slot, cdc_registry.table_name(n.nspname, c.relname) AS qualified
                                 FROM cdc_registry.pipelines pl
                                 JOIN pg_publication_tables pt ON pt.pubname = pl.publication
                                 JOIN pg_namespace n ON n.nspname = pt.schemaname
                                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
                                 WHERE c.oid = cmd.objid LOOP
                            PERFORM cdc_registry.record_ddl(p.slot, cmd.objid, p.qualified, cmd.command_tag);
                        END LOOP;
                    END IF;
                EXCEPTION WHEN OTHERS THEN
                    RAISE WARNING 'PgEgress could not capture % on %: %', cmd.command_tag, cmd.object_identity, SQLERRM;
                END;
            END LOOP;
        END
        $fn$;

        CREATE OR REPLACE FUNCTION cdc_registry.capture_drop() RETURNS event_trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
        DECLARE
            obj record;
            p record;
            qualified text;
        BEGIN
            FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table' AND original LOOP
                BEGIN
                    qualified := cdc_registry.table_name(obj.schema_name, obj.object_name);
                    FOR p IN SELECT DISTINCT o.slot FROM cdc_registry.operations o WHERE o.table_oid = obj.objid
                             UNION SELECT pl.slot FROM cdc_registry.pipelines pl
                             WHERE EXISTS (SELECT 1 FROM cdc_registry.table_state t WHERE t.table_name = qualified) LOOP
                        PERFORM cdc_registry.record_ddl(p.slot, obj.objid, qualified, tg_tag);
                    END LOOP;
                EXCEPTION WHEN OTHERS THEN
                    RAISE WARNING 'PgEgress could not capture the drop of %: %', obj.object_identity, SQLERRM;
                END;
            END LOOP;
        END
        $fn$;
        """;
}
