using Npgsql;

namespace PgEgress.Tests.Pipeline;

/// <summary>
/// The workload: tables with and without a primary key, REPLICA IDENTITY FULL, values that break naive CSV,
/// many types, a large TOASTed column updated without change, inserts, updates (including of the key), deletes,
/// truncates, multi-statement, savepoint and rolled-back transactions.
/// </summary>
public static class Workload
{
    public static readonly string[] Tables = ["kitchen_sink", "accounts", "full_nopk", "full_pk", "log_nopk"];

    public const string Schema = """
        CREATE SCHEMA app;
        CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
        CREATE TABLE app.kitchen_sink (
            id bigint PRIMARY KEY, i int, n numeric(20,6), b bool, u uuid, raw bytea, doc jsonb, tags text[], nums int[],
            at timestamptz, span interval, m app.mood, t text, big text);
        ALTER TABLE app.kitchen_sink ALTER COLUMN big SET STORAGE EXTERNAL;
        CREATE TABLE app.accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2));
        CREATE TABLE app.full_nopk (a int, b text);
        ALTER TABLE app.full_nopk REPLICA IDENTITY FULL;
        CREATE TABLE app.full_pk (id int PRIMARY KEY, title text, body text);
        ALTER TABLE app.full_pk REPLICA IDENTITY FULL;
        ALTER TABLE app.full_pk ALTER COLUMN body SET STORAGE EXTERNAL;
        CREATE TABLE app.log_nopk (msg text, at timestamptz DEFAULT now());
        CREATE TABLE public.unpublished (id serial PRIMARY KEY, v text);
        """;

    private const string Tricky = """
        (VALUES ('a,b'), ('say "hi"'), (E'line1\nline2'), (E'cr\rlf\r\n'), (E'tab\there'), (E'back\\slash'), ('ünïcødé ✓ 🎉'),
                (''), (NULL), ('\.'), (' padded '), ('NULL'), ('{"json": "lookalike"}'))
        """;

    /// <summary>Incompressible text over 2 kB, so it is stored out of line and comes back as unchanged TOAST.</summary>
    private const string Big = "(SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 200) g)";

    public static readonly string[] Steps =
    [
        $$"""
        INSERT INTO app.kitchen_sink
        SELECT row_number() OVER (), 42, 12345.678901, true, gen_random_uuid(), '\x00ff2c0a22'::bytea,
               '{"k": "v, \"q\"", "n": [1, 2]}'::jsonb, ARRAY['x', 'y,z', 'q"uote', NULL], ARRAY[1, 2, 3],
               '2026-11-23 14:12:05.123456+01', '1 year 2 mons 3 days 04:05:06.5', 'happy', v, {{Big}}
        FROM {{Tricky}} AS s(v);
        """,
        "INSERT INTO app.accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 50) g",
        "INSERT INTO app.full_nopk VALUES (1, 'one'), (1, 'one'), (2, NULL), (3, ''), (NULL, 'null key')",
        $"INSERT INTO app.full_pk SELECT g, 'title ' || g, {Big} FROM generate_series(1, 5) g",
        "INSERT INTO app.log_nopk (msg) SELECT 'entry ' || g FROM generate_series(1, 20) g",
        // Updates that leave the TOASTed column alone: it is not sent, and must not become NULL.
        "UPDATE app.kitchen_sink SET i = i + 1, t = coalesce(t, '') || ' (edited)' WHERE id % 2 = 0",
        "UPDATE app.full_pk SET title = title || ' v2' WHERE id <= 3",
        // Key changes: a D of the old row and an I of the new one.
        "UPDATE app.accounts SET id = id + 1000 WHERE id IN (3, 4)",
        "UPDATE app.full_nopk SET b = 'uno' WHERE a = 1",
        "DELETE FROM app.full_nopk WHERE a IS NULL",
        "DELETE FROM app.accounts WHERE id BETWEEN 10 AND 14",
        "DELETE FROM app.kitchen_sink WHERE id = 1",
        // One transaction over several tables and statements, with a rolled-back savepoint inside.
        """
        BEGIN;
        UPDATE app.accounts SET balance = balance - 5 WHERE id = 1;
        UPDATE app.accounts SET balance = balance + 5 WHERE id = 2;
        INSERT INTO app.log_nopk (msg) VALUES ('transfer 1 -> 2');
        SAVEPOINT s;
        INSERT INTO app.accounts VALUES (999, 'never', 0);
        ROLLBACK TO SAVEPOINT s;
        UPDATE app.kitchen_sink SET doc = doc || '{"more": true}', big = big || 'x' WHERE id = 3;
        COMMIT;
        """,
        // A transaction that never commits leaves no trace.
        "BEGIN; INSERT INTO app.accounts VALUES (5000, 'ghost', 1); DELETE FROM app.accounts; ROLLBACK;",
        "TRUNCATE app.log_nopk",
        "INSERT INTO app.log_nopk (msg) VALUES ('after truncate, with, commas'), (NULL)",
        "UPDATE app.kitchen_sink SET m = 'sad', span = '-1 day', nums = '{}' WHERE id = 5",
        "INSERT INTO public.unpublished (v) VALUES ('not captured')",
    ];

    /// <summary>Changes on top of <see cref="Steps"/>, for a second flush.</summary>
    public static readonly string[] SecondRound =
    [
        "INSERT INTO app.accounts SELECT g, 'late ' || g, g FROM generate_series(100, 120) g",
        "UPDATE app.kitchen_sink SET i = -1 WHERE id > 6",
        "UPDATE app.accounts SET id = id + 1 WHERE id = 120",
        "DELETE FROM app.full_nopk WHERE b = 'uno'",
        "INSERT INTO app.log_nopk (msg) VALUES ('second round')",
        "UPDATE app.full_pk SET title = NULL WHERE id = 5",
    ];

    public static Task RunAsync(NpgsqlDataSource db) => RunAsync(db, Steps);

    public static async Task RunAsync(NpgsqlDataSource db, IEnumerable<string> steps)
    {
        foreach (var step in steps)
        {
            await using var cmd = db.CreateCommand(step);
            await cmd.ExecuteNonQueryAsync();
        }
    }
}
