using System.Diagnostics;
using System.Net;
using System.Text.Json;
using PgEgress.Core.Output;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Health;
using Xunit.Abstractions;

namespace PgEgress.Tests.Clients;

/// <summary>One Host shared by the feed tests of this class; each test registers clients of its own.</summary>
public sealed class FeedHostFixture(PostgresFixture pg) : IAsyncLifetime
{
    private ClientHost? _host;

    public ClientHost Host => _host!;

    public async Task InitializeAsync() => _host = await ClientHost.StartAsync(pg, """
        CREATE TABLE app.a (id int PRIMARY KEY, n int NOT NULL);
        CREATE TABLE app.b (id int PRIMARY KEY, n int NOT NULL);
        CREATE TABLE app.quiet (id int PRIMARY KEY);
        CREATE TABLE app.sse (id int PRIMARY KEY);
        CREATE TABLE public.outside (id int PRIMARY KEY);
        """);

    public async Task DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync();
    }
}

/// <summary>The change feed over real HTTP on loopback against a real Host and PostgreSQL.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientFeedTests(FeedHostFixture fx, ITestOutputHelper output) : IClassFixture<FeedHostFixture>
{
    private ClientHost H => fx.Host;

    private static (string Table, string Op, int Id) Key(JsonElement change) =>
        ($"{change.GetProperty("schema").GetString()}.{change.GetProperty("table").GetString()}", change.GetProperty("op").GetString()!,
         change.GetProperty("key").GetProperty("id").GetInt32());

    [Fact]
    public async Task Three_clients_with_different_filters_each_read_exactly_their_changes_in_commit_order_under_a_write_load()
    {
        var onlyA = await H.RegisterAsync("""{"name":"only-a","tables":["app.a"]}""");
        var insertsOfB = await H.RegisterAsync("""{"name":"b-inserts","tables":["app.b"],"operations":["insert"]}""");
        var everything = await H.RegisterAsync("""{"name":"everything"}""");

        // One writer, one transaction after another, so commit order is the order of i.
        const int transactions = 120;
        var expected = new List<(string Table, string Op, int Id)>();
        for (var i = 1; i <= transactions; i++)
        {
            expected.Add(("app.a", "insert", i));
            expected.Add(("app.b", "insert", i));
            if (i > 1) expected.Add(("app.b", "update", i - 1));
            if (i % 10 == 0) expected.Add(("app.a", "delete", i - 5));
        }
        var writer = Task.Run(async () =>
        {
            for (var i = 1; i <= transactions; i++)
                await H.ExecAsync($"""
                    BEGIN; INSERT INTO app.a VALUES ({i}, {i}); INSERT INTO app.b VALUES ({i}, {i});
                    {(i > 1 ? $"UPDATE app.b SET n = -n WHERE id = {i - 1};" : "")}
                    {(i % 10 == 0 ? $"DELETE FROM app.a WHERE id = {i - 5};" : "")} COMMIT;
                    """);
        });

        async Task<List<JsonElement>> ReadAllAsync(Client client, int count)
        {
            var got = new List<JsonElement>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            string? after = null;
            while (got.Count < count && DateTime.UtcNow < deadline)
            {
                var page = await H.ReadAsync(client, after, limit: 37, wait: 2);
                got.AddRange(page.Changes);
                after = page.Next;
                await H.AckAsync(client, page.Next);
            }
            return got;
        }

        var want = new Dictionary<Client, List<(string, string, int)>>
        {
            [onlyA] = [.. expected.Where(e => e.Table == "app.a")],
            [insertsOfB] = [.. expected.Where(e => e.Table == "app.b" && e.Op == "insert")],
            [everything] = expected,
        };
        var reads = want.ToDictionary(w => w.Key, w => ReadAllAsync(w.Key, w.Value.Count));
        await writer;
        foreach (var (client, expect) in want)
        {
            var got = await reads[client];
            Assert.Equal(expect, got.Select(Key).ToList());
            // Commit order: LSNs never go back; within a transaction seq rises.
            var positions = got.Select(c => (Lsn: PgText.ParseLsn(c.GetProperty("lsn").GetString()!), Seq: c.GetProperty("seq").GetInt32())).ToList();
            Assert.True(positions.Zip(positions.Skip(1)).All(p => p.First.Lsn < p.Second.Lsn || (p.First.Lsn == p.Second.Lsn && p.First.Seq < p.Second.Seq)),
                "changes out of commit order");
            // Whole transactions: every transaction of "everything" has its 2 to 4 changes together.
            if (client == everything)
                Assert.Equal(transactions, got.Select(c => c.GetProperty("lsn").GetString()).Distinct().Count());
            // Nothing more arrives once the writer is done.
            var rest = await H.ReadAsync(client, limit: 100);
            Assert.Empty(rest.Changes);
        }
    }

    [Fact]
    public async Task The_same_offset_returns_the_same_records_and_reads_do_not_move_the_cursor()
    {
        var client = await H.RegisterAsync("""{"name":"repeat","tables":["app.quiet"]}""");
        for (var i = 1; i <= 20; i++) await H.ExecAsync($"INSERT INTO app.quiet VALUES ({i})");
        var first = await H.ReadUntilAsync(client, client.Cursor, 20);
        var again = await H.ReadAsync(client, client.Cursor, limit: 10_000);
        var implicitCursor = await H.ReadAsync(client, limit: 10_000);
        Assert.Equal(20, again.Changes.Count);
        Assert.Equal(again.Raw, implicitCursor.Raw);
        Assert.Equal(first.Select(c => c.GetRawText()), again.Changes.Select(c => c.GetRawText()));
        Assert.Equal(client.Cursor, (await H.StatusOfAsync(client)).GetProperty("cursor").GetString());

        // NDJSON: one change per line, next in the header only.
        using var request = ClientHost.AsClient(HttpMethod.Get, $"/api/clients/{client.Id}/changes?limit=10000", client.Secret);
        request.Headers.Accept.ParseAdd("application/x-ndjson");
        using var response = await H.Http.SendAsync(request);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(again.Changes.Select(c => c.GetRawText()), lines.Select(l => JsonDocument.Parse(l).RootElement.GetRawText()));
        Assert.Equal(again.Next, response.Headers.GetValues("PgEgress-Next-Offset").Single());
    }

    [Fact]
    public async Task A_long_poll_answers_within_a_second_of_the_commit_being_staged_and_204_when_nothing_comes()
    {
        var client = await H.RegisterAsync("""{"name":"poller","tables":["app.quiet"]}""");
        var idle = Stopwatch.StartNew();
        var nothing = await H.ReadAsync(client, wait: 1);
        Assert.Equal(204, nothing.Status);
        Assert.Equal(client.Cursor, nothing.Next);
        Assert.InRange(idle.Elapsed.TotalSeconds, 0.9, 5);

        var afterStaging = new List<double>();
        var afterCommit = new List<double>();
        var after = client.Cursor;
        for (var round = 0; round < 5; round++)
        {
            var poll = H.ReadAsync(client, after, wait: 30);
            await Task.Delay(300 + 150 * round); // the poll is waiting, at different points of a slice
            var id = 1000 + round;
            await H.ExecAsync($"INSERT INTO app.quiet VALUES ({id})");
            var committed = DateTime.UtcNow;
            var page = await poll;
            var answered = DateTime.UtcNow;
            Assert.Equal(200, page.Status);
            Assert.Equal([id], page.Changes.Select(c => c.GetProperty("key").GetProperty("id").GetInt32()));
            var lsn = page.Changes[0].GetProperty("lsn").GetString()!;
            var registered = await H.ScalarAsync<DateTime>($"SELECT created_at FROM cdc_registry.segments WHERE slot = '{H.Slot}' AND end_lsn >= '{lsn}' ORDER BY end_lsn LIMIT 1");
            afterStaging.Add((answered - DateTime.SpecifyKind(registered, DateTimeKind.Utc)).TotalSeconds);
            afterCommit.Add((answered - committed).TotalSeconds);
            after = page.Next;
        }
        output.WriteLine($"long-poll answer after the segment's registration: {string.Join(", ", afterStaging.Select(s => $"{s * 1000:0} ms"))}");
        output.WriteLine($"long-poll answer after the commit (1 s slices): {string.Join(", ", afterCommit.Select(s => $"{s * 1000:0} ms"))}");
        Assert.All(afterStaging, s => Assert.InRange(s, -0.05, 1.0));
    }

    [Fact]
    public async Task A_notification_arrives_as_a_server_sent_event_and_Last_Event_ID_resumes_after_it()
    {
        var client = await H.RegisterAsync("""{"name":"listener","tables":["app.sse"]}""");
        var (first, firstData) = await NextEventAsync(client, null, async () =>
        {
            await H.ExecAsync("INSERT INTO app.quiet VALUES (5000)"); // not its table: no event for it
            await H.ExecAsync("BEGIN; INSERT INTO app.sse VALUES (1); INSERT INTO app.sse VALUES (2); COMMIT");
        });
        Assert.Equal(2, firstData.GetProperty("changes").GetInt32());
        Assert.Equal(1, firstData.GetProperty("transactions").GetInt32());
        Assert.Equal(first, firstData.GetProperty("offset").GetString());

        // Reconnecting with Last-Event-ID: only what was staged after that event.
        var (second, secondData) = await NextEventAsync(client, first, () => H.ExecAsync("INSERT INTO app.sse VALUES (3)"));
        Assert.Equal(1, secondData.GetProperty("changes").GetInt32());
        Assert.True(string.CompareOrdinal(second, first) > 0);
        // The event's offset is a feed offset: reading from the first gives exactly the change the second announced.
        var page = await H.ReadAsync(client, first);
        Assert.Equal([3], page.Changes.Select(c => c.GetProperty("key").GetProperty("id").GetInt32()));
        Assert.Equal(second, page.Next);
    }

    private async Task<(string Id, JsonElement Data)> NextEventAsync(Client client, string? lastEventId, Func<Task> act)
    {
        using var request = ClientHost.AsClient(HttpMethod.Get, $"/api/clients/{client.Id}/events", client.Secret);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        using var response = await H.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("retry: 2000", await reader.ReadLineAsync());
        await act();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        string? id = null, kind = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal)) id = line[4..];
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) kind = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                Assert.Equal("changes", kind);
                return (id!, JsonDocument.Parse(line[6..]).RootElement.Clone());
            }
        }
        throw new InvalidOperationException("the event stream ended without an event");
    }

    [Fact]
    public async Task Metrics_count_feed_requests_records_served_and_clients_by_state_with_each_active_clients_lag()
    {
        var client = await H.RegisterAsync("""{"name":"measured","tables":["app.quiet"]}""");
        var gone = await H.RegisterAsync("""{"name":"gone"}""");
        await H.SendAsync(H.Operator(HttpMethod.Delete, $"/api/clients/{gone.Id}"));
        for (var i = 0; i < 3; i++) await H.ExecAsync($"INSERT INTO app.quiet VALUES ({8000 + i})");
        var got = await H.ReadUntilAsync(client, client.Cursor, 3);

        double Sum(Dictionary<string, PrometheusText.Family> f, string name, string? label = null, string? value = null) =>
            f.Values.SelectMany(x => x.Samples).Where(x => x.Name == name && (label is null || x.Labels.GetValueOrDefault(label) == value)).Sum(x => x.Value);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        Dictionary<string, PrometheusText.Family> families;
        while (true)
        {
            using var response = await H.Http.SendAsync(H.Operator(HttpMethod.Get, "/metrics"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            families = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
            if (families.ContainsKey("pgegress_client_lag_bytes") && families.Values.SelectMany(f => f.Samples).Any(x => x.Name == "pgegress_client_lag_bytes" && x.Labels.GetValueOrDefault("client") == client.Id)
                && Sum(families, "pgegress_clients", "state", "disconnected") >= 1) break;
            Assert.True(DateTime.UtcNow < deadline, "the client gauges did not appear");
            await Task.Delay(250);
        }
        Assert.True(Sum(families, "pgegress_clients_feed_records_total") >= got.Count);
        Assert.True(Sum(families, "pgegress_clients_feed_requests_total") >= 1);
        Assert.True(Sum(families, "pgegress_clients", "state", "active") >= 1);
        Assert.False(families.Values.SelectMany(f => f.Samples).Any(x => x.Name == "pgegress_client_lag_bytes" && x.Labels.GetValueOrDefault("client") == gone.Id),
            "a disconnected client has no cursor and no lag");
    }
}
