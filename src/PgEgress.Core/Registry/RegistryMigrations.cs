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
        (2, "reloads_and_ddl", """
            -- Which publication each pipeline (slot) reads: the SQL and event-trigger paths of a reload need it.
            CREATE TABLE cdc_registry.pipelines (
                slot        text        PRIMARY KEY,
                publication text        NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE cdc_registry.operations (
                id              bigserial   PRIMARY KEY,
                slot            text        NOT NULL,
                kind            text        NOT NULL CHECK (kind IN ('initial_load', 'reload')),
                requested_via   text        NOT NULL,
                table_oid       oid         NOT NULL,
                table_name      text        NOT NULL,
                state           text        NOT NULL DEFAULT 'requested'
                                            CHECK (state IN ('requested', 'exporting', 'completed', 'failed')),
                marker_lsn      pg_lsn,
                consistent_lsn  pg_lsn,
                attempts        integer     NOT NULL DEFAULT 0,
                rows            bigint,
                bytes           bigint,
                path            text,
                error           text,
                requested_at    timestamptz NOT NULL DEFAULT now(),
                started_at      timestamptz,
                finished_at     timestamptz,
                released_at     timestamptz
            );
            CREATE UNIQUE INDEX operations_one_active ON cdc_registry.operations (slot, table_oid) WHERE state IN ('requested', 'exporting');
            COMMENT ON TABLE cdc_registry.operations IS 'Reloads and initial loads: requested -> exporting -> completed | failed. marker_lsn: where the request is in the stream (0/0 for an initial load); consistent_lsn: the snapshot the reload file shows; released_at: the flush has let the held changes after it flow.';

            CREATE TABLE cdc_registry.ddl_history (
                id           bigserial   PRIMARY KEY,
                slot         text        NOT NULL,
                table_oid    oid         NOT NULL,
                table_name   text        NOT NULL,
                command_tag  text        NOT NULL,
                statement    text        NOT NULL,
                executed_at  timestamptz NOT NULL DEFAULT now(),
                executed_by  text        NOT NULL DEFAULT session_user
            );
            COMMENT ON TABLE cdc_registry.ddl_history IS 'DDL statements on published tables, as caught by PgEgress''s event triggers; each is also a marker in the WAL.';

            ALTER TABLE cdc_registry.file_log DROP CONSTRAINT file_log_file_type_check;
            ALTER TABLE cdc_registry.file_log ADD CONSTRAINT file_log_file_type_check CHECK (file_type IN ('streaming', 'full_reload', 'ddl'));

            -- One reload request of one pipeline: the operation row and its marker in the WAL commit together, and a table
            -- already waiting for or running a reload answers with that operation instead of a second one.
            CREATE FUNCTION cdc_registry.request_reload_for(p_slot text, p_table regclass, p_via text)
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
                SELECT format('%s.%s', n.nspname, c.relname) INTO qualified
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
            REVOKE ALL ON FUNCTION cdc_registry.request_reload_for(text, regclass, text) FROM PUBLIC;

            -- The SQL way to ask for a reload: one operation per pipeline whose publication has the table.
            CREATE FUNCTION cdc_registry.request_reload(p_table regclass, p_via text DEFAULT 'sql')
            RETURNS SETOF bigint
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
            DECLARE
                p record;
                found_one boolean := false;
            BEGIN
                IF NOT has_table_privilege(session_user, p_table, 'SELECT') THEN
                    RAISE EXCEPTION 'permission denied: % cannot read %', session_user, p_table USING ERRCODE = '42501';
                END IF;
                FOR p IN SELECT pl.slot FROM cdc_registry.pipelines pl
                         JOIN pg_publication_tables pt ON pt.pubname = pl.publication
                         JOIN pg_namespace n ON n.nspname = pt.schemaname
                         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
                         WHERE c.oid = p_table ORDER BY pl.slot LOOP
                    found_one := true;
                    RETURN QUERY SELECT r.operation_id FROM cdc_registry.request_reload_for(p.slot, p_table, p_via) r;
                END LOOP;
                IF NOT found_one THEN
                    RAISE EXCEPTION 'table % is not in the publication of any PgEgress pipeline', p_table USING ERRCODE = '55000';
                END IF;
            END
            $fn$;

            -- One DDL statement of one pipeline's table: into ddl_history and, at its place in the stream, into the WAL.
            CREATE FUNCTION cdc_registry.record_ddl(p_slot text, p_table oid, p_name text, p_tag text) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
            DECLARE
                ddl_id bigint;
            BEGIN
                INSERT INTO cdc_registry.ddl_history (slot, table_oid, table_name, command_tag, statement)
                VALUES (p_slot, p_table, p_name, p_tag, current_query()) RETURNING id INTO ddl_id;
                PERFORM pg_logical_emit_message(true, 'pgegress', json_build_object('type', 'ddl', 'slot', p_slot,
                    'ddl_id', ddl_id, 'table', p_name, 'command_tag', p_tag, 'statement', current_query())::text);
            END
            $fn$;
            REVOKE ALL ON FUNCTION cdc_registry.record_ddl(text, oid, text, text) FROM PUBLIC;

            -- DDL on published tables, COMMENT ON TABLE … IS 'pgegress:reload', and tables added to a pipeline's publication.
            -- A failure here must never break the user's statement: it becomes a warning.
            CREATE FUNCTION cdc_registry.capture_ddl() RETURNS event_trigger
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
                            FOR p IN SELECT pl.slot, format('%s.%s', n.nspname, c.relname) AS qualified
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

            -- A dropped table is gone from the publication by ddl_command_end; sql_drop still knows its name.
            CREATE FUNCTION cdc_registry.capture_drop() RETURNS event_trigger
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
            DECLARE
                obj record;
                p record;
                qualified text;
            BEGIN
                FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table' AND original LOOP
                    BEGIN
                        qualified := format('%s.%s', obj.schema_name, obj.object_name);
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
            """),
        (3, "table_names", TableNameMigration.Sql),
        (4, "self_contained_reload_marker", """
            -- The reload marker carries the whole request (operation, table identity, how and when it was asked): logical
            -- decoding can hand the consumer the marker before the request's commit is visible to other sessions (a
            -- synchronous standby holds visibility for its round trip), and the consumer then records the operation from
            -- the marker itself. Otherwise as in version 3.
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
                    json_build_object('type', 'reload', 'slot', p_slot, 'operation', op, 'table', qualified,
                        'schema', (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table),
                        'name', (SELECT c.relname FROM pg_class c WHERE c.oid = p_table),
                        'oid', p_table::oid, 'via', p_via, 'requested_at', now())::text);
                RETURN QUERY SELECT op, true;
            END
            $fn$;
            """),
        (5, "ddl_capture_hardening", """
            -- The text of a captured DDL statement: current_query() only when it is exactly that one statement. A query of
            -- several commands (psql -c 'ALTER TABLE …; ALTER ROLE … PASSWORD …') or another command that ran it (a DO
            -- block, a function) may hold anything, secrets included: then only the command tag and the table are kept.
            -- Commands are counted by the semicolons outside strings, quoted names, dollar quotes and comments, scanning
            -- the UTF-8 bytes (get_byte is O(1); every byte that matters here is ASCII).
            CREATE FUNCTION cdc_registry.ddl_statement_text(p_query text, p_tag text, p_name text) RETURNS text
            LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
            DECLARE
                b bytea := convert_to(coalesce(p_query, ''), 'UTF8');
                n int := length(b);
                i int := 0;
                j int;
                c int;
                depth int;
                tag bytea;
                found int;
                commands int := 0;
                in_command boolean := false;
                first_start int;
                backslash_escapes boolean := current_setting('standard_conforming_strings') = 'off';
                escapes boolean;
                -- Line breaks in a name must not start a line of their own in ddl.sql.
                shown text := replace(replace(p_name, E'\r', E'\\r'), E'\n', E'\\n');
            BEGIN
                WHILE i < n LOOP
                    c := get_byte(b, i);
                    IF c IN (9, 10, 11, 12, 13, 32) THEN
                        i := i + 1;
                    ELSIF c = 45 AND i + 1 < n AND get_byte(b, i + 1) = 45 THEN -- a -- comment, to the end of the line
                        WHILE i < n AND get_byte(b, i) <> 10 LOOP i := i + 1; END LOOP;
                    ELSIF c = 47 AND i + 1 < n AND get_byte(b, i + 1) = 42 THEN -- a /* comment */, which nests
                        depth := 1;
                        i := i + 2;
                        WHILE i < n AND depth > 0 LOOP
                            IF get_byte(b, i) = 47 AND i + 1 < n AND get_byte(b, i + 1) = 42 THEN depth := depth + 1; i := i + 2;
                            ELSIF get_byte(b, i) = 42 AND i + 1 < n AND get_byte(b, i + 1) = 47 THEN depth := depth - 1; i := i + 2;
                            ELSE i := i + 1;
                            END IF;
                        END LOOP;
                    ELSIF c = 59 THEN -- ;
                        in_command := false;
                        i := i + 1;
                    ELSE
                        IF NOT in_command THEN
                            in_command := true;
                            commands := commands + 1;
                            IF commands = 1 THEN first_start := i; END IF;
                        END IF;
                        IF c = 39 OR c = 34 THEN -- a 'string' or a "quoted name"; E'…' strings have backslash escapes
                            escapes := c = 39 AND (backslash_escapes OR (i > 0 AND get_byte(b, i - 1) IN (69, 101)
                                AND (i = 1 OR NOT (get_byte(b, i - 2) BETWEEN 48 AND 57 OR get_byte(b, i - 2) BETWEEN 65 AND 90
                                    OR get_byte(b, i - 2) BETWEEN 97 AND 122 OR get_byte(b, i - 2) IN (36, 95) OR get_byte(b, i - 2) >= 128))));
                            i := i + 1;
                            WHILE i < n LOOP
                                IF escapes AND get_byte(b, i) = 92 THEN
                                    i := i + 2;
                                ELSIF get_byte(b, i) = c THEN
                                    i := i + 1;
                                    EXIT WHEN i >= n OR get_byte(b, i) <> c; -- a doubled quote stays inside
                                    i := i + 1;
                                ELSE
                                    i := i + 1;
                                END IF;
                            END LOOP;
                        ELSIF c = 36 AND (i = 0 OR NOT (get_byte(b, i - 1) BETWEEN 48 AND 57 OR get_byte(b, i - 1) BETWEEN 65 AND 90
                                OR get_byte(b, i - 1) BETWEEN 97 AND 122 OR get_byte(b, i - 1) IN (36, 95) OR get_byte(b, i - 1) >= 128)) THEN
                            -- $tag$ … $tag$ (a $ after a name character belongs to the name; $1 is a parameter)
                            j := i + 1;
                            IF j < n AND NOT get_byte(b, j) BETWEEN 48 AND 57 THEN
                                WHILE j < n AND (get_byte(b, j) BETWEEN 48 AND 57 OR get_byte(b, j) BETWEEN 65 AND 90
                                    OR get_byte(b, j) BETWEEN 97 AND 122 OR get_byte(b, j) = 95 OR get_byte(b, j) >= 128) LOOP
                                    j := j + 1;
                                END LOOP;
                            END IF;
                            IF j < n AND get_byte(b, j) = 36 THEN
                                tag := substring(b FROM i + 1 FOR j - i + 1);
                                found := position(tag IN substring(b FROM j + 2));
                                i := CASE WHEN found = 0 THEN n ELSE j + found + length(tag) END;
                            ELSE
                                i := i + 1;
                            END IF;
                        ELSE
                            i := i + 1;
                        END IF;
                    END IF;
                END LOOP;
                IF commands <> 1 THEN
                    RETURN format('-- %s %s (statement not recorded: the query held several commands)', p_tag, shown);
                END IF;
                -- One command, but is it this statement? A DO block or a function call is not, and may hold anything.
                IF convert_from(substring(b FROM first_start + 1), 'UTF8') !~* ('^' || replace(p_tag, ' ', E'\\s+') || E'\\M') THEN
                    RETURN format('-- %s %s (statement not recorded: it ran inside another command)', p_tag, shown);
                END IF;
                RETURN p_query;
            END
            $fn$;

            CREATE OR REPLACE FUNCTION cdc_registry.record_ddl(p_slot text, p_table oid, p_name text, p_tag text) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
            DECLARE
                ddl_id bigint;
                recorded text := cdc_registry.ddl_statement_text(current_query(), p_tag, p_name);
            BEGIN
                INSERT INTO cdc_registry.ddl_history (slot, table_oid, table_name, command_tag, statement)
                VALUES (p_slot, p_table, p_name, p_tag, recorded) RETURNING id INTO ddl_id;
                PERFORM pg_logical_emit_message(true, 'pgegress', json_build_object('type', 'ddl', 'slot', p_slot,
                    'ddl_id', ddl_id, 'table', p_name, 'command_tag', p_tag, 'statement', recorded)::text);
            END
            $fn$;

            -- A pipeline whose slot is gone (a Host removed for good) would otherwise have every DDL recorded for it too.
            CREATE VIEW cdc_registry.live_pipelines AS
            SELECT pl.* FROM cdc_registry.pipelines pl
            WHERE EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.slot_name = pl.slot AND s.database = current_database());

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
                                     JOIN cdc_registry.live_pipelines pl ON pl.publication = pb.pubname
                                     WHERE pr.oid = cmd.objid LOOP
                                PERFORM cdc_registry.request_reload_for(p.slot, p.prrelid::regclass, 'publication');
                            END LOOP;
                        ELSIF cmd.object_type = 'publication namespace' THEN
                            -- ADD TABLES IN SCHEMA: every table of the schema joins the publication with its rows.
                            FOR p IN SELECT pl.slot, c.oid AS relid FROM pg_publication_namespace pn
                                     JOIN pg_publication pb ON pb.oid = pn.pnpubid
                                     JOIN cdc_registry.live_pipelines pl ON pl.publication = pb.pubname
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
                                     FROM cdc_registry.live_pipelines pl
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
                                 AND o.slot IN (SELECT slot FROM cdc_registry.live_pipelines)
                                 UNION SELECT pl.slot FROM cdc_registry.live_pipelines pl
                                 WHERE EXISTS (SELECT 1 FROM cdc_registry.table_state t WHERE t.table_name = qualified) LOOP
                            PERFORM cdc_registry.record_ddl(p.slot, obj.objid, qualified, tg_tag);
                        END LOOP;
                    EXCEPTION WHEN OTHERS THEN
                        RAISE WARNING 'PgEgress could not capture the drop of %: %', obj.object_identity, SQLERRM;
                    END;
                END LOOP;
            END
            $fn$;

            -- SQL reload requests: not for PUBLIC, but for an operator role. Creating a role needs CREATEROLE; without it the
            -- function stays its owner's, and the start logs a warning (SourceSetup).
            REVOKE ALL ON FUNCTION cdc_registry.request_reload(regclass, text) FROM PUBLIC;
            DO $do$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgegress_operator') THEN
                    BEGIN
                        CREATE ROLE pgegress_operator NOLOGIN;
                    EXCEPTION
                        WHEN insufficient_privilege THEN
                            RAISE WARNING 'PgEgress cannot create the role pgegress_operator: %', SQLERRM;
                        WHEN duplicate_object OR unique_violation THEN
                            NULL; -- another database of the cluster created it at the same moment
                    END;
                END IF;
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgegress_operator') THEN
                    BEGIN
                        GRANT USAGE ON SCHEMA cdc_registry TO pgegress_operator;
                        GRANT EXECUTE ON FUNCTION cdc_registry.request_reload(regclass, text) TO pgegress_operator;
                    EXCEPTION WHEN insufficient_privilege THEN
                        RAISE WARNING 'PgEgress cannot grant request_reload to pgegress_operator: %', SQLERRM;
                    END;
                END IF;
            END
            $do$;
            """),
        (6, "sink_partial_transactions", """
            ALTER TABLE cdc_registry.cursors ADD COLUMN partial jsonb;
            COMMENT ON COLUMN cdc_registry.cursors.partial IS 'Event sinks: the events already delivered of transactions after lsn, so a slice or a restart goes on inside a transaction instead of sending it again.';
            """),
        (7, "flush_failures", """
            CREATE TABLE cdc_registry.flush_failures (
                slot            text        NOT NULL,
                table_name      text        NOT NULL,
                retry_from      pg_lsn      NOT NULL,
                error           text        NOT NULL,
                first_failed_at timestamptz NOT NULL DEFAULT now(),
                last_failed_at  timestamptz NOT NULL DEFAULT now(),
                attempts        integer     NOT NULL DEFAULT 1,
                PRIMARY KEY (slot, table_name)
            );
            COMMENT ON TABLE cdc_registry.flush_failures IS 'Tables a flush could not write: their changes in transactions ending after retry_from are in no registered file yet; every flush retries them, the other tables flow on.';
            """),
        (8, "clients", """
            CREATE TABLE cdc_registry.clients (
                id              text        PRIMARY KEY,
                slot            text        NOT NULL,
                name            text        NOT NULL,
                tables          text[]      NOT NULL DEFAULT '{}',
                operations      text[]      NOT NULL DEFAULT '{}',
                secret_sha256   text        NOT NULL,
                ttl             interval    NOT NULL,
                state           text        NOT NULL DEFAULT 'active'
                                            CHECK (state IN ('active', 'expired', 'lagging-expired', 'disconnected')),
                state_reason    text,
                created_at      timestamptz NOT NULL DEFAULT now(),
                last_seen       timestamptz NOT NULL DEFAULT now(),
                ended_at        timestamptz
            );
            CREATE INDEX clients_slot_state ON cdc_registry.clients (slot, state);
            COMMENT ON TABLE cdc_registry.clients IS 'Registered change-feed clients; an active one has a cursor (cursors.consumer = ''client:'' || id) that retains staged segments, the others none.';
            """),
        (9, "verifications", """
            CREATE TABLE cdc_registry.verifications (
                id                  bigserial   PRIMARY KEY,
                slot                text        NOT NULL,
                table_name          text        NOT NULL,
                state               text        NOT NULL DEFAULT 'requested'
                                                CHECK (state IN ('requested', 'running', 'completed', 'skipped', 'failed')),
                requested_by        text        NOT NULL CHECK (requested_by IN ('api', 'schedule')),
                repair              boolean     NOT NULL DEFAULT false,
                consistent_lsn      pg_lsn,
                rows_scanned        bigint,
                file_rows           bigint,
                buckets_compared    bigint,
                buckets_bisected    bigint,
                missing_in_files    bigint,
                only_in_files       bigint,
                different           bigint,
                duration_ms         bigint,
                error               text,
                repair_path         text,
                reload_operation_id bigint,
                requested_at        timestamptz NOT NULL DEFAULT now(),
                started_at          timestamptz,
                finished_at         timestamptz
            );
            CREATE INDEX verifications_pending ON cdc_registry.verifications (slot, id) WHERE state IN ('requested', 'running');
            COMMENT ON TABLE cdc_registry.verifications IS 'Comparisons of a table at a consistent LSN with what a loader rebuilds from the registered files: requested -> running -> completed | skipped | failed. Counts are exact; discrepancies keeps a capped sample.';

            CREATE TABLE cdc_registry.verification_discrepancies (
                verification_id bigint  NOT NULL REFERENCES cdc_registry.verifications (id) ON DELETE CASCADE,
                n               integer NOT NULL,
                kind            text    NOT NULL CHECK (kind IN ('missing', 'extra', 'different')),
                key             text    NOT NULL,
                columns         text[],
                PRIMARY KEY (verification_id, n)
            );
            COMMENT ON TABLE cdc_registry.verification_discrepancies IS 'A sample (the first 1000) of a verification''s rows: missing from the files, only in the files, or different (with the differing columns). key is a JSON object of the key columns (every column for a table without a key).';

            ALTER TABLE cdc_registry.file_log DROP CONSTRAINT file_log_file_type_check;
            ALTER TABLE cdc_registry.file_log ADD CONSTRAINT file_log_file_type_check CHECK (file_type IN ('streaming', 'full_reload', 'ddl', 'repair'));
            """),
    ];
}
