using System.Net;
using System.Text.Json;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Clients;

/// <summary>Every bad request to the client routes is a 4xx with a problem body, and changes nothing in the registry.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientBadInputTests(FeedHostFixture fx) : IClassFixture<FeedHostFixture>
{
    private ClientHost H => fx.Host;

    private Task<string> RegistryStateAsync() => H.ScalarAsync<string>("""
        SELECT coalesce((SELECT string_agg(id || ':' || state || ':' || last_seen::text, ',' ORDER BY id) FROM cdc_registry.clients), '') || ' / ' ||
               coalesce((SELECT string_agg(consumer || ':' || lsn::text, ',' ORDER BY consumer) FROM cdc_registry.cursors WHERE consumer LIKE 'client:%'), '')
        """);

    [Fact]
    public async Task Each_bad_request_is_a_4xx_problem_and_changes_nothing()
    {
        var client = await H.RegisterAsync("""{"name":"victim","tables":["app.quiet"]}""");
        await H.ExecAsync("INSERT INTO app.quiet VALUES (9001)");
        var page = await H.ReadAsync(client, wait: 10);
        Assert.Single(page.Changes);
        await H.AckAsync(client, page.Next);
        await H.FlushAsync(); // both cursors are past 0/1 now: a start there is below what staging holds
        var path = $"/api/clients/{client.Id}";
        var unknown = "/api/clients/0123456789abcdef";

        var cases = new (string What, Func<HttpRequestMessage> Request, HttpStatusCode Expected)[]
        {
            ("unknown id (get)", () => H.Operator(HttpMethod.Get, unknown), HttpStatusCode.NotFound),
            ("malformed id", () => H.Operator(HttpMethod.Get, "/api/clients/..%2Fx"), HttpStatusCode.NotFound),
            ("unknown id (changes)", () => ClientHost.AsClient(HttpMethod.Get, unknown + "/changes", client.Secret), HttpStatusCode.NotFound),
            ("unknown id (delete)", () => H.Operator(HttpMethod.Delete, unknown), HttpStatusCode.NotFound),
            ("bad offset", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes?after=not-an-offset", client.Secret), HttpStatusCode.BadRequest),
            ("offset beyond staging", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes?after=7FFFFFFFFFFFFFFF", client.Secret), HttpStatusCode.BadRequest),
            ("negative limit", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes?limit=-1", client.Secret), HttpStatusCode.BadRequest),
            ("zero limit", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes?limit=0", client.Secret), HttpStatusCode.BadRequest),
            ("oversized limit", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes?limit=10001", client.Secret), HttpStatusCode.BadRequest),
            ("wait over 30 s", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes?wait=31", client.Secret), HttpStatusCode.BadRequest),
            ("wrong secret", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes", "not-the-secret"), HttpStatusCode.Unauthorized),
            ("no secret", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes", null), HttpStatusCode.Unauthorized),
            ("API key instead of the secret", () => ClientHost.AsClient(HttpMethod.Get, path + "/changes", ClientHost.Key), HttpStatusCode.Unauthorized),
            ("wrong secret (ping)", () => ClientHost.AsClient(HttpMethod.Post, path + "/ping", "nope"), HttpStatusCode.Unauthorized),
            ("wrong secret (ack)", () => ClientHost.AsClient(HttpMethod.Post, path + "/ack", "nope", $$"""{"offset":"{{page.Next}}"}"""), HttpStatusCode.Unauthorized),
            ("wrong secret (events)", () => ClientHost.AsClient(HttpMethod.Get, path + "/events", "nope"), HttpStatusCode.Unauthorized),
            ("bad Last-Event-ID", () => { var r = ClientHost.AsClient(HttpMethod.Get, path + "/events", client.Secret); r.Headers.Add("Last-Event-ID", "x"); return r; }, HttpStatusCode.BadRequest),
            ("malformed ack body", () => ClientHost.AsClient(HttpMethod.Post, path + "/ack", client.Secret, "{\"offset\":"), HttpStatusCode.BadRequest),
            ("ack of a bad offset", () => ClientHost.AsClient(HttpMethod.Post, path + "/ack", client.Secret, """{"offset":"zz"}"""), HttpStatusCode.BadRequest),
            ("ack beyond staging", () => ClientHost.AsClient(HttpMethod.Post, path + "/ack", client.Secret, """{"offset":"7FFFFFFFFFFFFFFF"}"""), HttpStatusCode.BadRequest),
            ("management without the key", () => new HttpRequestMessage(HttpMethod.Get, "/api/clients"), HttpStatusCode.Unauthorized),
            ("delete with the client's secret", () => ClientHost.AsClient(HttpMethod.Delete, path, client.Secret), HttpStatusCode.Unauthorized),
            ("malformed registration", () => H.Operator(HttpMethod.Post, "/api/clients", "{\"name\":"), HttpStatusCode.BadRequest),
            ("registration not an object", () => H.Operator(HttpMethod.Post, "/api/clients", "[]"), HttpStatusCode.BadRequest),
            ("registration without a name", () => H.Operator(HttpMethod.Post, "/api/clients", "{}"), HttpStatusCode.BadRequest),
            ("misspelt member", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","table":["app.a"]}"""), HttpStatusCode.BadRequest),
            ("not a table name", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","tables":["a.b.c"]}"""), HttpStatusCode.BadRequest),
            ("unknown table", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","tables":["app.nope"]}"""), HttpStatusCode.NotFound),
            ("unpublished table", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","tables":["public.outside"]}"""), HttpStatusCode.Conflict),
            ("unknown operation", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","operations":["upsert"]}"""), HttpStatusCode.BadRequest),
            ("bad start", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","start":"yesterday"}"""), HttpStatusCode.BadRequest),
            ("start below retention", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","start":"0/1"}"""), HttpStatusCode.BadRequest),
            ("ttl of zero", () => H.Operator(HttpMethod.Post, "/api/clients", """{"name":"x","ttl_seconds":0}"""), HttpStatusCode.BadRequest),
            ("oversized body", () => H.Operator(HttpMethod.Post, "/api/clients", $$"""{"name":"{{new string('x', 70_000)}}"}"""), HttpStatusCode.RequestEntityTooLarge),
        };

        var before = await RegistryStateAsync();
        var wrong = new List<string>();
        foreach (var (what, request, expected) in cases)
        {
            using var message = request();
            using var response = await H.Http.SendAsync(message);
            var text = await response.Content.ReadAsStringAsync();
            var problem = response.Content.Headers.ContentType?.MediaType == "application/problem+json"
                && JsonDocument.Parse(text).RootElement.TryGetProperty("detail", out var detail) && detail.GetString()!.Length > 0;
            if (response.StatusCode != expected || !problem) wrong.Add($"{what}: {(int)response.StatusCode} {text}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        Assert.Equal(before, await RegistryStateAsync());
        Assert.Equal(page.Next, (await H.StatusOfAsync(client)).GetProperty("cursor").GetString());
    }
}
