using System.Text.Json;
using Npgsql;
using PgEgress.Core.Api;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Sinks;

namespace PgEgress.Tests.History;

/// <summary>
/// GET /api/tables/{t}/history: one row's registered changes across the files of several flushes, in the loader's order,
/// with the values the test wrote; a composite key by key.{column}; every bad key a 400 naming the table's key.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class RowHistoryTests(PostgresFixture pg) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-history-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_rows_history_lists_its_changes_across_files_in_order_and_bad_keys_are_refused()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("row_history");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, """
            CREATE SCHEMA app;
            CREATE TABLE app.items (id int PRIMARY KEY, note text);
            CREATE TABLE app.pairs (a int, b text, v int, PRIMARY KEY (a, b));
            """);
        await using var pipeline = await InProcessPipeline.StartAsync(InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out")));
        await WebhookSinkTests.Exec(db, "INSERT INTO app.items VALUES (5, 'first'), (6, 'other'); INSERT INTO app.pairs VALUES (1, 'x', 10), (1, 'y', 20)");
        await WebhookSinkTests.Exec(db, "UPDATE app.items SET note = 'second' WHERE id = 5");
        await pipeline.FlushAsync();
        await WebhookSinkTests.Exec(db, "UPDATE app.items SET note = E'third, \"quoted\"\\nline' WHERE id = 5; UPDATE app.pairs SET v = 11 WHERE a = 1 AND b = 'x'");
        await WebhookSinkTests.Exec(db, "DELETE FROM app.items WHERE id = 5");
        await pipeline.FlushAsync();
        await WebhookSinkTests.Exec(db, "INSERT INTO app.items VALUES (5, 'again')");
        await pipeline.FlushAsync();
        var api = pipeline.Get<PgEgressApi>();

        var items = Body(await api.HistoryAsync("app.items", [new("key", "5")], default));
        var changes = items.GetProperty("changes").EnumerateArray().ToList();
        Assert.Equal(["I", "U", "U", "D", "I"], changes.Select(c => c.GetProperty("op").GetString()));
        Assert.Equal(["first", "second", "third, \"quoted\"\nline", null, "again"], changes.Select(c => c.GetProperty("record").GetProperty("note").GetString()));
        Assert.Equal(3, changes.Select(c => c.GetProperty("file").GetString()).Distinct().Count());
        // Npgsql's own pg_lsn parser, not the product's.
        var lsns = changes.Select(c => (ulong)NpgsqlTypes.NpgsqlLogSequenceNumber.Parse(c.GetProperty("lsn").GetString()!)).ToList();
        Assert.Equal(lsns.Order(), lsns);
        Assert.False(items.GetProperty("truncated").GetBoolean());

        var pair = Body(await api.HistoryAsync("app.pairs", [new("key.a", "1"), new("key.b", "x")], default));
        Assert.Equal(["10", "11"], pair.GetProperty("changes").EnumerateArray().Select(c => c.GetProperty("record").GetProperty("v").GetString()));
        Assert.Empty(Body(await api.HistoryAsync("app.items", [new("key", "404")], default)).GetProperty("changes").EnumerateArray());

        await AssertFails(api.HistoryAsync("app.items", [], default), 400, "key");
        await AssertFails(api.HistoryAsync("app.pairs", [new("key", "1")], default), 400, "key.{column}");
        await AssertFails(api.HistoryAsync("app.pairs", [new("key.a", "1")], default), 400, "missing: b");
        await AssertFails(api.HistoryAsync("app.items", [new("key.note", "first")], default), 400, "not key columns: note");
        await AssertFails(api.HistoryAsync("app.items", [new("key", "5"), new("key.id", "5")], default), 400, "not both");
        await AssertFails(api.HistoryAsync("app.nope", [new("key", "5")], default), 404, "app.nope");
        await AssertFails(api.HistoryAsync("a.b.c", [new("key", "5")], default), 400, "3 dot-separated parts");
    }

    private static JsonElement Body(ApiReply reply)
    {
        Assert.True(reply.StatusCode == 200, $"{reply.StatusCode}: {reply.Problem}");
        return JsonSerializer.SerializeToElement(reply.Body, ApiJson.Options);
    }

    private static async Task AssertFails(Task<ApiReply> call, int status, string says)
    {
        var reply = await call;
        Assert.True(reply.StatusCode == status && reply.Problem!.Contains(says, StringComparison.Ordinal), $"{reply.StatusCode}: {reply.Problem}");
    }
}
