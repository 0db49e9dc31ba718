using System.Text;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Sinks;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Testing;

namespace PgEgress.Tests.Sinks.ClickHouse;

/// <summary>
/// PostgreSQL → a real clickhouse-server (Debian's 18.16, started on a free loopback port): inserts, updates, deletes,
/// a key change, a TRUNCATE and a restart of the sink mid-stream end with the current-state query
/// (FINAL WHERE _is_deleted = 0) equal to the source table, every column compared as text; an unreachable
/// server shows in the sink's status.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClickHouseSinkTests(PostgresFixture pg) : IDisposable
{
    private const string Schema = """
        CREATE SCHEMA app;
        CREATE TABLE app.items (
            id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), qty bigint, small smallint, score float8, ok boolean,
            at timestamptz, tags text[], doc jsonb, big numeric, note varchar(20), uid uuid);
        CREATE TABLE app.wiped (id bigint PRIMARY KEY, v text);
        """;

    /// <summary>The source side as the mapping turns each column into ClickHouse text (timestamptz: UTC seconds; bool: 1/0).</summary>
    private const string SourceColumns = """
        id::text, name, price::text, qty::text, small::text, score::text, CASE WHEN ok THEN '1' WHEN NOT ok THEN '0' END,
        to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), tags::text, doc::text, big::text, note, uid::text
        """;

    private const string TargetColumns = "id, name, price, qty, small, score, ok, at, tags, doc, big, note, uid";

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-chsink-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task After_inserts_updates_deletes_a_key_change_and_a_restart_the_FINAL_rows_equal_the_source()
    {
        await using var clickHouse = await ClickHouseServer.StartAsync();
        var cs = await pg.CreateUniqueDatabaseAsync("chsink_src");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, Schema);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Sinks["ch"] = new SinkOptions
        {
            Kind = SinkKind.ClickHouse, Url = clickHouse.Url, Database = "mirror", User = ClickHouseServer.User, Password = ClickHouseServer.Password,
            CreateTables = true, BatchMaxRows = 50,
        };

        await using (var pipeline = await InProcessPipeline.StartAsync(options, sinks: true))
        {
            await WebhookSinkTests.Exec(db, """
                INSERT INTO app.items SELECT g, 'item ' || g, g * 1.25, g::bigint * 1000000000, g % 100, g / 4.0, g % 2 = 0,
                    timestamptz '2026-03-01 10:00:00.75+02' + g * interval '1 hour', ARRAY['a' || g, 'b"c', NULL], jsonb_build_object('n', g, 's', E'tab\there'),
                    g * 1e40, CASE WHEN g % 3 = 0 THEN NULL ELSE E'line\nbreak\\' END, gen_random_uuid()
                FROM generate_series(1, 300) g;
                INSERT INTO app.wiped SELECT g, 'gone ' || g FROM generate_series(1, 20) g;
                """);
            // Several changes of one key in one transaction: the last wins.
            await WebhookSinkTests.Exec(db, "BEGIN; UPDATE app.items SET name = 'first' WHERE id = 5; UPDATE app.items SET name = 'second', price = NULL WHERE id = 5; DELETE FROM app.items WHERE id = 6; COMMIT");
            await pipeline.FlushAsync();
            await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "ch");
        }

        // The sink is down while the source changes on: deletes, a key change, a re-insert of a deleted key, a TRUNCATE.
        await WebhookSinkTests.Exec(db, """
            DELETE FROM app.items WHERE id BETWEEN 10 AND 40;
            UPDATE app.items SET id = 1000 WHERE id = 7;
            UPDATE app.items SET qty = -qty, ok = NULL, at = NULL WHERE id % 10 = 1;
            INSERT INTO app.items (id, name) VALUES (20, 'back again');
            TRUNCATE app.wiped;
            INSERT INTO app.wiped VALUES (7, 'after the truncate');
            """);
        await using (var pipeline = await InProcessPipeline.StartAsync(options, sinks: true))
        {
            await WebhookSinkTests.Exec(db, "UPDATE app.items SET id = 7, name = 'key changed back' WHERE id = 1000; DELETE FROM app.items WHERE id = 300");
            await pipeline.FlushAsync();
            var status = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "ch");
            Assert.Null(status.LastError);
        }

        await AssertSameAsync(db, clickHouse, "app.items", "mirror.app__items", SourceColumns, TargetColumns);
        await AssertSameAsync(db, clickHouse, "app.wiped", "mirror.app__wiped", "id::text, v", "id, v");
        // Deletes are rows with _is_deleted = 1 (until a merge), not physical deletes.
        Assert.NotEqual("0\n", await clickHouse.QueryAsync("SELECT count() FROM mirror.app__items FINAL WHERE _is_deleted = 1"));
    }

    [Fact]
    public async Task Tables_ClickHouse_cannot_take_are_set_aside_with_a_dead_letter_and_the_others_keep_flowing()
    {
        await using var clickHouse = await ClickHouseServer.StartAsync();
        var cs = await pg.CreateUniqueDatabaseAsync("chsink_aside_src");
        await using var db = NpgsqlDataSource.Create(cs);
        // app.nokey: no primary key, so keyed by every column, and a nullable one cannot be ordered by.
        // app.toasted: a default replica identity, so an update that leaves a TOASTed value alone does not send it.
        await WebhookSinkTests.Exec(db, """
            CREATE SCHEMA app;
            CREATE TABLE app.good (id int PRIMARY KEY, v text);
            CREATE TABLE app.nokey (a int, b text);
            CREATE TABLE app.toasted (id int PRIMARY KEY, big text, n int);
            ALTER TABLE app.toasted ALTER COLUMN big SET STORAGE EXTERNAL;
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "aside"));
        options.Sinks["ch"] = new SinkOptions
        {
            Kind = SinkKind.ClickHouse, Url = clickHouse.Url, Database = "mirror", User = ClickHouseServer.User, Password = ClickHouseServer.Password, CreateTables = true,
        };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);
        await WebhookSinkTests.Exec(db, "INSERT INTO app.good VALUES (1, 'before'); INSERT INTO app.nokey VALUES (1, 'x'); INSERT INTO app.toasted VALUES (1, repeat('z', 100000), 1)");
        // Once the insert is in ClickHouse, the batch holds no earlier version of the row to take the value from.
        await pipeline.FlushAsync();
        await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "ch");
        await WebhookSinkTests.Exec(db, "UPDATE app.toasted SET n = 2 WHERE id = 1");
        await WebhookSinkTests.Exec(db, "INSERT INTO app.good VALUES (2, 'after'); UPDATE app.good SET v = 'changed' WHERE id = 1");
        await pipeline.FlushAsync();
        var status = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, "ch");

        Assert.Equal("1\tchanged\n2\tafter\n", await clickHouse.QueryAsync("SELECT id, v FROM mirror.app__good FINAL WHERE _is_deleted = 0 ORDER BY id FORMAT TabSeparated"));
        var letters = new List<string>();
        await foreach (var path in pipeline.Store.ListAsync(EventDelivery.DeadLetterPrefix("ch"), default))
        {
            await using var stream = (await pipeline.Store.OpenReadAsync(path, default))!;
            letters.Add(await new StreamReader(stream).ReadToEndAsync());
        }
        Assert.True(letters.Count == 2, string.Join(" | ", letters));
        Assert.Contains(letters, l => l.Contains("app.nokey", StringComparison.Ordinal) && l.Contains("Nullable", StringComparison.Ordinal));
        Assert.Contains(letters, l => l.Contains("app.toasted", StringComparison.Ordinal) && l.Contains("REPLICA IDENTITY FULL", StringComparison.Ordinal));
        Assert.Contains("set aside", status.LastError);
    }

    [Fact]
    public async Task An_unreachable_server_shows_in_the_sink_status_and_nothing_counts_as_delivered()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("chsink_down_src");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "down"));
        options.Sinks["ch"] = new SinkOptions
        {
            Kind = SinkKind.ClickHouse, Url = $"http://127.0.0.1:{HostProcess.HostSettings.ClosedLoopbackPort()}", Database = "mirror", CreateTables = true,
            Timeout = TimeSpan.FromSeconds(2),
        };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);
        await WebhookSinkTests.Exec(db, "INSERT INTO app.t VALUES (1)");
        await pipeline.FlushAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        SinkStatus status;
        while ((status = (await pipeline.Get<StatusReader>().ReadAsync(default)).Sinks.Single(x => x.Name == "ch")).LastError is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the sink reports nothing: {status}");
            await Task.Delay(50);
        }
        Assert.Equal(0, status.Delivered);
        Assert.True(status.LagBytes > 0, $"the cursor moved past what ClickHouse never accepted: {status}");
    }

    private static async Task AssertSameAsync(NpgsqlDataSource db, ClickHouseServer clickHouse, string source, string target, string sourceColumns, string targetColumns)
    {
        var expected = new StringBuilder();
        await using (var cmd = db.CreateCommand($"SELECT {sourceColumns} FROM {source} AS s ORDER BY s.id"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync())
                expected.Append(string.Join('\t', Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "\\N" : Tsv(r.GetString(i))))).Append('\n');
        var actual = await clickHouse.QueryAsync($"SELECT {targetColumns} FROM {target} FINAL WHERE _is_deleted = 0 ORDER BY id FORMAT TabSeparated");
        Assert.True(expected.Length > 0);
        Assert.Equal(expected.ToString(), actual);
    }

    /// <summary>ClickHouse's TabSeparated escaping of the characters the workload uses.</summary>
    private static string Tsv(string text) => text.Replace("\\", "\\\\").Replace("\t", "\\t").Replace("\n", "\\n");
}
