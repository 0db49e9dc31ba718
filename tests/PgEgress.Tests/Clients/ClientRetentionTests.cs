using System.Net;
using System.Text.Json;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Clients;

/// <summary>
/// What a client's cursor does to staged retention, each test on a Host of its own (retention is the lowest cursor of
/// the whole pipeline): a cursor survives a restart, an expired client stops retaining, the cap ends a lagging client,
/// an offset below retention is refused.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientRetentionTests(PostgresFixture pg)
{
    private const string Schema = "CREATE TABLE app.t (id int PRIMARY KEY, note text);";

    private static int Id(JsonElement change) => change.GetProperty("key").GetProperty("id").GetInt32();

    private static Task<long> SegmentsAsync(ClientHost h) => h.ScalarAsync<long>($"SELECT count(*) FROM cdc_registry.segments WHERE slot = '{h.Slot}'");

    [Fact]
    public async Task A_client_that_acked_half_resumes_from_its_cursor_after_a_Host_restart_with_no_gap()
    {
        await using var h = await ClientHost.StartAsync(pg, Schema);
        var client = await h.RegisterAsync("""{"name":"resumer"}""");
        for (var i = 1; i <= 60; i++) await h.ExecAsync($"INSERT INTO app.t VALUES ({i}, 'row {i}')");
        var all = await h.ReadUntilAsync(client, client.Cursor, 60);
        Assert.Equal(Enumerable.Range(1, 60), all.Select(Id));

        // Acknowledge the first 30 (one transaction each): read exactly up to them and ack that page's next.
        var half = await h.ReadAsync(client, client.Cursor, limit: 30);
        Assert.Equal(Enumerable.Range(1, 30), half.Changes.Select(Id));
        await h.AckAsync(client, half.Next);
        var rest = await h.ReadAsync(client, limit: 10_000);

        await h.RestartAsync();
        await h.FlushAsync(); // retention runs: the acknowledged half may go, the rest must stay
        var resumed = await h.ReadAsync(client, limit: 10_000);
        Assert.Equal(Enumerable.Range(31, 30), resumed.Changes.Select(Id));
        Assert.Equal(rest.Raw, resumed.Raw); // the same offset gives the same records, after a restart too
        Assert.Equal(half.Next, (await h.StatusOfAsync(client)).GetProperty("cursor").GetString());
    }

    [Fact]
    public async Task An_expired_client_stops_retaining_segments_and_its_feed_answers_410()
    {
        await using var h = await ClientHost.StartAsync(pg, Schema);
        var stale = await h.RegisterAsync("""{"name":"stale","ttl_seconds":4}""");
        var live = await h.RegisterAsync("""{"name":"live","ttl_seconds":3600}""");
        for (var i = 1; i <= 5; i++) await h.ExecAsync($"INSERT INTO app.t VALUES ({i}, 'x')");
        // The live client reads and acknowledges everything; only the stale one is behind.
        var page = await h.ReadAsync(live, wait: 5, limit: 10_000);
        while ((await h.ReadAsync(live, page.Next)).Changes.Count > 0) page = await h.ReadAsync(live, page.Next);
        await h.AckAsync(live, (await h.ReadAsync(live, page.Next)).Next);

        await h.FlushAsync();
        var retained = await SegmentsAsync(h);
        Assert.True(retained > 0, "the stale client's cursor retains its segments while it is within its TTL");
        Assert.Equal("active", (await h.StatusOfAsync(stale)).GetProperty("state").GetString());

        await Task.Delay(TimeSpan.FromSeconds(4.5)); // its TTL passes (the lease is the thing under test)
        await h.FlushAsync();
        var status = await h.StatusOfAsync(stale);
        Assert.Equal("expired", status.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("cursor").ValueKind);
        Assert.Equal(0, await h.ScalarAsync<long>($"SELECT count(*) FROM cdc_registry.cursors WHERE consumer = 'client:{stale.Id}'"));
        Assert.True(await SegmentsAsync(h) < retained, "the segments only the expired client needed are deleted");

        var (code, body, _) = await h.SendAsync(ClientHost.AsClient(HttpMethod.Get, $"/api/clients/{stale.Id}/changes", stale.Secret));
        Assert.Equal(HttpStatusCode.Gone, code);
        Assert.Contains("expired", body.GetProperty("detail").GetString());
        Assert.Equal("active", (await h.StatusOfAsync(live)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_client_behind_the_retention_cap_becomes_lagging_expired_and_is_never_silently_skipped()
    {
        await using var h = await ClientHost.StartAsync(pg, Schema, new Dictionary<string, string?> { ["PgEgress__Clients__MaxRetentionBytes"] = "1" });
        var slow = await h.RegisterAsync("""{"name":"slow"}""");
        await h.ExecAsync("INSERT INTO app.t SELECT g, repeat('x', 100) FROM generate_series(1, 50) g");
        await h.FlushAsync();
        var status = await h.StatusOfAsync(slow);
        Assert.Equal("lagging-expired", status.GetProperty("state").GetString());
        Assert.Contains("MaxRetentionBytes", status.GetProperty("state_reason").GetString());
        Assert.Equal(0, await SegmentsAsync(h));
        var (code, _, _) = await h.SendAsync(ClientHost.AsClient(HttpMethod.Get, $"/api/clients/{slow.Id}/changes", slow.Secret));
        Assert.Equal(HttpStatusCode.Gone, code);
        var (list, body, _) = await h.SendAsync(h.Operator(HttpMethod.Get, "/api/status"));
        Assert.Equal(HttpStatusCode.OK, list);
        Assert.Contains(body.GetProperty("clients").EnumerateArray(), c => c.GetProperty("id").GetString() == slow.Id && c.GetProperty("state").GetString() == "lagging-expired");
    }

    [Fact]
    public async Task An_offset_older_than_what_staging_holds_answers_410_with_a_problem_that_says_to_resync()
    {
        await using var h = await ClientHost.StartAsync(pg, Schema);
        var client = await h.RegisterAsync("""{"name":"caught-up","start":"earliest"}""");
        await h.ExecAsync("INSERT INTO app.t VALUES (1, 'x')");
        var page = await h.ReadAsync(client, wait: 10);
        Assert.Single(page.Changes);
        await h.AckAsync(client, page.Next);
        await h.FlushAsync(); // every cursor is past the segment: it is deleted

        var (status, body, response) = await h.SendAsync(ClientHost.AsClient(HttpMethod.Get, $"/api/clients/{client.Id}/changes?after={client.Cursor}", client.Secret));
        Assert.Equal(HttpStatusCode.Gone, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("reload", body.GetProperty("detail").GetString());
        // From its cursor it reads on.
        Assert.Equal(200, (await h.ReadAsync(client)).Status);
    }
}
