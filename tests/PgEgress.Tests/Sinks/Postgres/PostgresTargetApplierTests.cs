using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Sinks.Postgres;
using PgEgress.Core.Staging;
using PgEgress.Tests.Fixtures;
using static PgEgress.Tests.Sinks.Postgres.TargetRig;

namespace PgEgress.Tests.Sinks.Postgres;

/// <summary>
/// The PostgreSQL target sink against a real target database, checked the way its user sees it: the rows in the target
/// tables and the cursor the target keeps.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresTargetApplierTests(PostgresFixture pg)
{
    private const string SourceSchema = """
        CREATE SCHEMA app;
        CREATE TYPE app.mood AS ENUM ('calm', 'busy');
        CREATE TABLE app.item (id integer PRIMARY KEY, price numeric(12,2), at timestamptz, doc jsonb, tags text[], blob bytea, note text, mood app.mood);
        CREATE TABLE public.doc (id integer PRIMARY KEY, title text NOT NULL, body text);
        CREATE TABLE public.events (kind text, payload json);
        ALTER TABLE public.events REPLICA IDENTITY FULL;
        """;

    private const string TargetMood = "CREATE SCHEMA app; CREATE TYPE app.mood AS ENUM ('calm', 'busy');";

    private static readonly CancellationToken None = CancellationToken.None;

    private Task<TargetRig> RigAsync() => TargetRig.StartAsync(pg, SourceSchema);

    [Fact]
    public async Task Inserts_updates_deletes_and_truncates_reach_the_target_with_their_types()
    {
        await using var rig = await RigAsync();
        await rig.ExecTargetAsync(TargetMood);
        var item = await rig.DescribeAsync("app.item");
        var applier = rig.Applier(createTables: true);

        Assert.True(await applier.ApplyAsync(Txn(0x100), [
            new('I', item, Row("1", "12.50", "2024-05-06 07:08:09.123456+02", """{"a": 1, "b": [true, null]}""", """{red,"with space","quo\"te",NULL}""", "\\x00ff10", "", "calm")),
            new('I', item, Row("2", "-0.01", "1999-12-31 23:59:59+00", "[]", "{}", "\\x", null, null)),
            new('I', item, Row("3", "1000000000.00", "infinity", "null", null, null, "gone soon", "busy")),
        ], None));
        Assert.True(await applier.ApplyAsync(Txn(0x200), [
            new('U', item, Row("2", "7.00", "1999-12-31 23:59:59+00", """{"k": "v"}""", "{x}", "\\xdeadbeef", null, "busy")),
            new('D', item, Row("3", null, null, null, null, null, null, null)),
        ], None));

        // Row 1's note is the empty string, row 2's is NULL: they stay apart.
        var rows = await rig.QueryTargetAsync("SELECT id, price::text, at, doc::text, tags, blob, note, mood::text FROM app.item ORDER BY id");
        Assert.Equal(2, rows.Count);
        Assert.Equal<object?>([1, "12.50", new DateTime(2024, 5, 6, 5, 8, 9, DateTimeKind.Utc).AddTicks(1_234_560), """{"a": 1, "b": [true, null]}""",
            new[] { "red", "with space", "quo\"te", null }, new byte[] { 0x00, 0xff, 0x10 }, "", "calm"], rows[0]);
        Assert.Equal<object?>([2, "7.00", new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Utc), """{"k": "v"}""",
            new[] { "x" }, new byte[] { 0xde, 0xad, 0xbe, 0xef }, null, "busy"], rows[1]);

        Assert.True(await applier.ApplyAsync(Txn(0x300), [new('T', item, null), new('I', item, Row("4", "1.00", null, null, null, null, null, null))], None));
        Assert.Equal<object?[]>([[4]], await rig.QueryTargetAsync("SELECT id FROM app.item"));
    }

    [Fact]
    public async Task An_update_with_an_unchanged_toast_value_keeps_the_target_value()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        await rig.ExecTargetAsync("CREATE TABLE public.doc (id integer PRIMARY KEY, title text NOT NULL, body text)");
        var applier = rig.Applier();
        var body = new string('b', 100_000);
        await applier.ApplyAsync(Txn(0x100), [new('I', doc, Row("1", "first", body)), new('I', doc, Row("5", "other", body + "5"))], None);

        // As the stream sends them: an update that leaves the TOASTed body alone, then one that also changes the key.
        var keepKey = new StagedChange(ChangeKind.Update, doc, null, false, [.. Row("1", "renamed"), TupleValue.Unchanged]);
        var newKey = new StagedChange(ChangeKind.Update, doc, Row("5", null, null), true, [.. Row("6", "moved"), TupleValue.Unchanged]);
        Assert.True(await applier.ApplyAsync(Txn(0x200), ChangeRows.From(keepKey).Concat(ChangeRows.From(newKey)), None));

        var rows = await rig.QueryTargetAsync("SELECT id, title, body FROM public.doc ORDER BY id");
        Assert.Equal<object?[]>([[1, "renamed", body], [6, "moved", body + "5"]], rows);
    }

    [Fact]
    public async Task A_replayed_transaction_is_skipped_and_the_target_reports_the_last_applied_lsn()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        var applier = rig.Applier(createTables: true);
        Assert.Equal(0UL, await applier.GetAppliedLsnAsync(None));

        var first = (Txn(0x1_0000_0100), new ChangeRow[] { new('I', doc, Row("1", "a", "x")), new('I', doc, Row("2", "b", "y")) });
        var second = (Txn(0x1_0000_0200), new ChangeRow[] { new('D', doc, Row("1", null, null)), new('U', doc, Row("2", "b2", "y2")) });
        Assert.True(await applier.ApplyAsync(first.Item1, first.Item2, None));
        Assert.True(await applier.ApplyAsync(second.Item1, second.Item2, None));
        var before = await rig.QueryTargetAsync("SELECT id, title, body FROM public.doc ORDER BY id");

        // A restarted runner replays from an older position: the target's own cursor skips what it already has.
        var restarted = rig.Applier(createTables: true);
        Assert.Equal(0x1_0000_0200UL, await restarted.GetAppliedLsnAsync(None));
        Assert.False(await restarted.ApplyAsync(first.Item1, first.Item2, None));
        Assert.False(await restarted.ApplyAsync(second.Item1, second.Item2, None));

        Assert.Equal(before, await rig.QueryTargetAsync("SELECT id, title, body FROM public.doc ORDER BY id"));
        Assert.Equal<object?[]>([[2, "b2", "y2"]], before);
        Assert.Equal<object?[]>([["1/200"]], await rig.QueryTargetAsync("SELECT lsn::text FROM pgegress.sink_cursor WHERE sink = 'mirror'"));
    }

    [Fact]
    public async Task Two_appliers_of_one_sink_never_apply_a_transaction_twice()
    {
        await using var rig = await RigAsync();
        var events = await rig.DescribeAsync("public.events");
        await rig.ExecTargetAsync("CREATE TABLE public.events (kind text, payload json)");
        var (one, two) = (rig.Applier(), rig.Applier());
        await one.GetAppliedLsnAsync(None);
        using var release = new ManualResetEventSlim();

        // The first holds its transaction open midway; the second must wait for it, then skip.
        var first = Task.Run(() => one.ApplyAsync(Txn(0x100), Rows(release), None));
        await WaitUntilAsync(async () => (await rig.QueryTargetAsync(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgegress-sink-mirror' AND state = 'idle in transaction'")).Count == 1);
        var second = two.ApplyAsync(Txn(0x100), Rows(null), None);
        await Task.Delay(300);
        Assert.False(second.IsCompleted);
        release.Set();

        Assert.True(await first);
        Assert.False(await second);
        Assert.Equal(2, await rig.CountTargetAsync("public.events"));

        IEnumerable<ChangeRow> Rows(ManualResetEventSlim? gate)
        {
            yield return new ChangeRow('I', events, Row("a", "1"));
            gate?.Wait();
            yield return new ChangeRow('I', events, Row("b", "2"));
        }
    }

    [Fact]
    public async Task Without_a_key_a_delete_removes_exactly_one_of_the_identical_rows()
    {
        await using var rig = await RigAsync();
        var events = await rig.DescribeAsync("public.events");
        Assert.All(events.Columns, c => Assert.True(c.IsKey));
        var applier = rig.Applier(createTables: true);

        var same = Row("click", """{"x": 1}""");
        var noPayload = Row("ping", null);
        await applier.ApplyAsync(Txn(0x100), [new('I', events, same), new('I', events, same), new('I', events, same), new('I', events, noPayload), new('I', events, noPayload)], None);
        await applier.ApplyAsync(Txn(0x200), [new('D', events, same), new('D', events, noPayload)], None);

        var rows = await rig.QueryTargetAsync("SELECT kind, payload::text, count(*) FROM public.events GROUP BY 1, 2 ORDER BY 1");
        Assert.Equal<object?[]>([["click", """{"x": 1}""", 2L], ["ping", null, 1L]], rows);
        Assert.Empty(await rig.QueryTargetAsync("SELECT FROM pg_index WHERE indrelid = 'public.events'::regclass"));
    }

    [Fact]
    public async Task CreateTables_creates_the_table_with_its_primary_key()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        var applier = rig.Applier(createTables: true);

        await applier.ApplyAsync(Txn(0x100), [new('I', doc, Row("1", "a", null))], None);

        var columns = await rig.QueryTargetAsync("""
            SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, coalesce(a.attnum = ANY (i.indkey), false)
            FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = 'public.doc'::regclass AND a.attnum > 0 ORDER BY a.attnum
            """);
        Assert.Equal<object?[]>([["id", "integer", true, true], ["title", "text", true, false], ["body", "text", false, false]], columns);
    }

    [Fact]
    public async Task A_missing_target_table_or_type_is_a_clear_error()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        var item = await rig.DescribeAsync("app.item");

        var noTable = await Assert.ThrowsAsync<TargetTableException>(() => rig.Applier().ApplyAsync(Txn(0x100), [new('I', doc, Row("1", "a", null))], None));
        Assert.Contains("'mirror'", noTable.Message);
        Assert.Contains("public.doc", noTable.Message);
        Assert.Contains("PgEgress:Sinks:mirror:CreateTables=true", noTable.Message);
        Assert.Equal("public.doc", noTable.Table);

        var noType = await Assert.ThrowsAsync<TargetTableException>(() =>
            rig.Applier(createTables: true).ApplyAsync(Txn(0x100), [new('I', item, Row("1", null, null, null, null, null, null, "calm"))], None));
        Assert.Contains("'mirror'", noType.Message);
        Assert.Contains("app.item", noType.Message);
        Assert.Contains("app.mood", noType.Message);
        Assert.Equal("app.item", noType.Table);
        Assert.Empty(await rig.QueryTargetAsync("SELECT FROM pg_namespace WHERE nspname = 'app'"));
    }

    [Fact]
    public async Task A_changed_table_shape_gets_its_new_columns()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        var applier = rig.Applier(createTables: true);
        await applier.ApplyAsync(Txn(0x100), [new('I', doc, Row("1", "a", "x"))], None);

        await using (var cmd = rig.Source.CreateCommand("ALTER TABLE public.doc ADD COLUMN rating numeric(3,1)")) await cmd.ExecuteNonQueryAsync();
        var wider = await rig.DescribeAsync("public.doc");
        await applier.ApplyAsync(Txn(0x200), [new('I', wider, Row("2", "b", "y", "4.5")), new('U', wider, Row("1", "a", "x", "3.0"))], None);
        Assert.Equal<object?[]>([[1, "3.0"], [2, "4.5"]], await rig.QueryTargetAsync("SELECT id, rating::text FROM public.doc ORDER BY id"));

        // Without CreateTables, the missing column is named rather than left to fail as SQL.
        await rig.ExecTargetAsync("ALTER TABLE public.doc DROP COLUMN rating");
        var error = await Assert.ThrowsAsync<TargetTableException>(() => rig.Applier().ApplyAsync(Txn(0x300), [new('I', wider, Row("3", "c", "z", "1.0"))], None));
        Assert.Contains("public.doc", error.Message);
        Assert.Contains("rating", error.Message);
    }

    [Fact]
    public async Task A_transaction_that_fails_midway_leaves_the_target_and_its_cursor_unchanged()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        var item = await rig.DescribeAsync("app.item");
        await rig.ExecTargetAsync(TargetMood);
        var applier = rig.Applier(createTables: true);
        await applier.ApplyAsync(Txn(0x100), [new('I', doc, Row("1", "kept", null))], None);

        // Enough rows before the bad one that earlier batches have already been sent; the transaction also creates app.item.
        IEnumerable<ChangeRow> Rows()
        {
            yield return new ChangeRow('U', doc, Row("1", "changed", "x"));
            for (var i = 0; i < 1_200; i++) yield return new ChangeRow('I', item, Row($"{i}", "1.00", null, null, null, null, null, null));
            yield return new ChangeRow('I', item, Row("9999", "twelve", null, null, null, null, null, null));
            yield return new ChangeRow('I', item, Row("10000", "1.00", null, null, null, null, null, null));
        }
        var error = await Assert.ThrowsAsync<TargetTableException>(() => applier.ApplyAsync(Txn(0x200), Rows(), None));
        Assert.Contains("'mirror'", error.Message);
        Assert.Contains("app.item", error.Message);
        Assert.Contains("numeric", error.Message);
        Assert.Equal("app.item", error.Table);

        Assert.Equal(0x100UL, await applier.GetAppliedLsnAsync(None));
        Assert.Equal<object?[]>([[1, "kept", null]], await rig.QueryTargetAsync("SELECT id, title, body FROM public.doc"));
        Assert.Empty(await rig.QueryTargetAsync("SELECT FROM pg_class WHERE relname = 'item'"));

        // Fixed upstream, the same applier applies it (creating the table again, which the rollback took away).
        Assert.True(await applier.ApplyAsync(Txn(0x200), Rows().Where(r => r.Values![1].Text is not [(byte)'t', ..]), None));
        Assert.Equal(1_201, await rig.CountTargetAsync("app.item"));
    }

    [Fact]
    public async Task A_constraint_that_fails_at_commit_changes_nothing_and_a_type_name_from_the_stream_is_never_spliced_into_SQL()
    {
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        await rig.ExecTargetAsync("CREATE TABLE public.doc (id integer PRIMARY KEY, title text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED, body text)");
        var applier = rig.Applier(createTables: true);

        var deferred = await Assert.ThrowsAsync<TargetTableException>(() =>
            applier.ApplyAsync(Txn(0x100), [new('I', doc, Row("1", "same", null)), new('I', doc, Row("2", "same", null))], None));
        Assert.Contains("'mirror'", deferred.Message);
        Assert.Contains("public.doc", deferred.Message);
        Assert.Equal("public.doc", deferred.Table);
        Assert.Equal(0, await rig.CountTargetAsync("public.doc"));
        Assert.Equal(0UL, await applier.GetAppliedLsnAsync(None));

        // A table that has the column binds to the target's type; one to be created asks the target to read the name.
        var spliced = doc with { Columns = [doc.Columns[0] with { TypeName = "integer); DROP TABLE public.doc; --" }, .. doc.Columns.Skip(1)] };
        Assert.True(await applier.ApplyAsync(Txn(0x100), [new('I', spliced, Row("1", "a", null))], None));
        var injected = await Assert.ThrowsAsync<TargetTableException>(() => applier.ApplyAsync(Txn(0x200), [new('I', spliced with { Name = "doc2" }, Row("1", "a", null))], None));
        Assert.Contains("'mirror'", injected.Message);
        Assert.Equal("public.doc2", injected.Table);

        Assert.Equal(1, await rig.CountTargetAsync("public.doc"));
        Assert.Equal(0x100UL, await applier.GetAppliedLsnAsync(None));
    }

    /// <summary>Types whose names need quoting, carry a modifier, or are written in SQL's own words; arrays of them.</summary>
    private const string OddTypes = """"
        CREATE SCHEMA "odd schema";
        CREATE TYPE "odd schema"."My Type" AS ENUM ('a b', 'c');
        CREATE TYPE "odd schema"."semi;colon" AS ENUM ('x');
        CREATE DOMAIN "odd schema"."Money ""Amount""" AS numeric(10,2);
        """";

    [Fact]
    public async Task Columns_of_quoted_modified_and_array_types_are_created_and_applied_with_the_same_types()
    {
        await using var rig = await TargetRig.StartAsync(pg, OddTypes + """"
            CREATE TABLE "odd schema"."odd table" (id int PRIMARY KEY, m "odd schema"."My Type", ms "odd schema"."My Type"[], s "odd schema"."semi;colon",
                v character varying(20), va character varying(20)[], ts timestamp(3) with time zone, tsa timestamp(3) with time zone[],
                t time(2) without time zone, i interval hour to minute, b bit varying(5), n numeric(8,3)[], d "odd schema"."Money ""Amount""");
            """");
        await rig.ExecTargetAsync(OddTypes);
        var odd = await rig.DescribeAsync("\"odd schema\".\"odd table\"");
        var applier = rig.Applier(createTables: true);

        var row = Row("1", "a b", "{\"a b\",c}", "x", "twenty characters!!", "{one,two}", "2024-05-06 07:08:09.123+00", "{\"2024-05-06 07:08:09.123+00\"}",
            "10:11:12.34", "02:03:00", "10101", "{1.5,2.25}", "12.34");
        Assert.True(await applier.ApplyAsync(Txn(0x100), [new('I', odd, row), new('I', odd, Row("2", "c", null, null, null, null, null, null, null, null, null, null, null))], None));
        Assert.True(await applier.ApplyAsync(Txn(0x200), [
            new('U', odd, Row("2", "a b", "{c}", "x", "v", "{}", null, null, null, null, "1", null, "0.50")),
        ], None));

        // The target's columns have the source's types, and every value came through as the source printed it.
        const string types = """
            SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
            WHERE attrelid = '"odd schema"."odd table"'::regclass AND attnum > 0 ORDER BY attnum
            """;
        await using (var cmd = rig.Source.CreateCommand(types))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            var expected = new List<object?[]>();
            while (await r.ReadAsync()) expected.Add([r.GetString(0), r.GetString(1)]);
            Assert.Equal(expected, await rig.QueryTargetAsync(types));
        }
        var text = await rig.QueryTargetAsync("""
            SELECT id, m::text, ms::text, s::text, v, va::text, ts::text, tsa::text, t::text, i::text, b::text, n::text, d::text
            FROM "odd schema"."odd table" ORDER BY id
            """);
        Assert.Equal<object?[]>([
            [1, "a b", "{\"a b\",c}", "x", "twenty characters!!", "{one,two}", "2024-05-06 07:08:09.123+00", "{\"2024-05-06 07:08:09.123+00\"}", "10:11:12.34", "02:03:00", "10101", "{1.500,2.250}", "12.34"],
            [2, "a b", "{c}", "x", "v", "{}", null, null, null, null, "1", null, "0.50"],
        ], text);

        Assert.True(await applier.ApplyAsync(Txn(0x300), [new('D', odd, Row("1", null, null, null, null, null, null, null, null, null, null, null, null))], None));
        Assert.Equal(1, await rig.CountTargetAsync("\"odd schema\".\"odd table\""));
    }

    [Fact]
    public async Task A_target_that_is_the_source_under_another_name_is_refused_and_another_database_of_the_server_is_not()
    {
        await using var rig = await RigAsync();
        var source = new NpgsqlConnectionStringBuilder(rig.Source.ConnectionString);
        Assert.Equal("127.0.0.1", source.Host);
        var aliases = new[]
        {
            new NpgsqlConnectionStringBuilder(source.ConnectionString) { Host = "localhost" },
            new NpgsqlConnectionStringBuilder(source.ConnectionString) { ApplicationName = "elsewhere", Timeout = 7, Pooling = false },
        };
        foreach (var alias in aliases)
        {
            var error = await Assert.ThrowsAsync<ConfigurationException>(() => rig.Applier(target: alias.ConnectionString).GetAppliedLsnAsync(None));
            Assert.StartsWith("PgEgress:Sinks:mirror:ConnectionString points at the source database itself", error.Message);
        }
        // Refused before anything was written there.
        await using (var cmd = rig.Source.CreateCommand("SELECT count(*) FROM pg_namespace WHERE nspname = 'pgegress'"))
            Assert.Equal(0L, await cmd.ExecuteScalarAsync());

        // The target database lives on the same server: that is no reason to refuse it.
        var target = new NpgsqlConnectionStringBuilder(rig.TargetConnectionString);
        Assert.Equal((source.Host, source.Port), (target.Host, target.Port));
        await rig.Applier().EnsureNotSourceAsync(None);
        Assert.Equal(0UL, await rig.Applier(target: new NpgsqlConnectionStringBuilder(rig.TargetConnectionString) { Host = "localhost" }.ConnectionString).GetAppliedLsnAsync(None));
    }

    [Fact]
    public async Task A_huge_transaction_streams_through_without_being_held()
    {
        const int count = 200_000;
        await using var rig = await RigAsync();
        var doc = await rig.DescribeAsync("public.doc");
        var applier = rig.Applier(createTables: true);
        var (enumerations, produced, sentMidway) = (0, 0, false);

        IEnumerable<ChangeRow> Rows()
        {
            enumerations++;
            for (var i = 1; i <= count; i++)
            {
                produced++;
                // Halfway through, the target is already busy with the rows before: they stream, they are not gathered first.
                if (i == count / 2) sentMidway = SentRowsYet(rig);
                yield return new ChangeRow('I', doc, Row($"{i}", $"title {i}", null));
            }
        }

        Assert.True(await applier.ApplyAsync(Txn(0x100), Rows(), None));
        Assert.Equal((1, count, true), (enumerations, produced, sentMidway));
        Assert.Equal(count, await rig.CountTargetAsync("public.doc"));
    }

    private static bool SentRowsYet(TargetRig rig)
    {
        using var cmd = rig.Target.CreateCommand("""
            SELECT count(*) FROM pg_stat_activity
            WHERE application_name = 'pgegress-sink-mirror' AND state = 'idle in transaction' AND query LIKE 'INSERT INTO "public"."doc"%'
            """);
        return (long)cmd.ExecuteScalar()! == 1;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the condition did not become true");
            await Task.Delay(50);
        }
    }
}
