using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Npgsql;
using PgEgress.Core.Pipeline;
using PgEgress.Functions.Tests.App;
using PgEgress.Functions.Tests.Fixtures;
using PgEgress.Tests.HostProcess;
using Microsoft.Extensions.DependencyInjection;

namespace PgEgress.Functions.Tests.Http;

/// <summary>
/// The Host (its real process) and the Functions app (its HTTP functions through the app's composition) over one
/// pipeline answer the same requests alike: the same status code, content type and body, the only differences being
/// the fields listed in <see cref="Volatile"/>.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ApiParityTests(PostgresFixture pg) : IDisposable
{
    private const string Key = "api-parity-key-0123456789";

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-parity-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// Values that legitimately differ between the two, by JSON property name. The Host runs the ingest in its own
    /// process and the Functions app here runs none, so what a process knows only of its own slices differs: the last
    /// slice it consumed (last_slice, started_at), its flush (last_flush), and lag seconds, measured from its own slices'
    /// commit times at the moment each answered (seconds), and the lag samples each process keeps of its own
    /// (lag_history). marker_lsn is set once the Host's running ingest passes a reload marker, which can happen between
    /// the two requests. Everything else must be equal.
    /// </summary>
    private static readonly HashSet<string> Volatile = new(StringComparer.Ordinal)
    {
        "last_slice", "started_at", "last_flush", "seconds", "marker_lsn", "lag_history",
    };

    /// <summary>
    /// In /api/status, by JSON path: the positions the Host's running ingest moves between the two reads (what it has
    /// staged and acknowledged, its pending segments), and the slot's WAL figures, which other databases of the shared
    /// test cluster move too. Tables, operations and sinks, and the shape of the whole, must be equal.
    /// </summary>
    private static readonly HashSet<string> MovingPositions = new(StringComparer.Ordinal)
    {
        "$.slot.confirmed_flush_lsn", "$.slot.restart_lsn", "$.slot.retained_wal_bytes", "$.slot.lag_bytes", "$.staged_lsn",
        "$.pending_segments", "$.pending_segment_bytes", "$.lag[].bytes",
    };

    [Fact]
    public async Task Every_route_answers_as_the_Hosts_for_the_same_requests()
    {
        var db = await pg.CreateUniqueDatabaseAsync("fn_parity");
        await using (var c = new NpgsqlConnection(db))
        {
            await c.OpenAsync();
            await new NpgsqlCommand("""CREATE TABLE public.items (id int PRIMARY KEY); CREATE TABLE "Sales"."Order" (id int PRIMARY KEY)""".Replace("CREATE TABLE \"Sales\"", "CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\"", StringComparison.Ordinal), c).ExecuteNonQueryAsync();
            await new NpgsqlCommand("INSERT INTO public.items SELECT generate_series(1, 10)", c).ExecuteNonQueryAsync();
        }
        var settings = new Dictionary<string, string?>
        {
            ["PgEgress__Source__ConnectionString"] = db,
            ["PgEgress__Source__Slot"] = "fn_parity_" + Guid.NewGuid().ToString("N")[..8],
            ["PgEgress__Source__Tables__0"] = "public.items",
            ["PgEgress__Source__Tables__1"] = "\"Sales\".\"Order\"",
            ["PgEgress__Reload__InitialLoad"] = "false",
            ["PgEgress__Storage__Kind"] = "FileSystem",
            ["PgEgress__Storage__Path"] = Path.Combine(_root, "out"),
            ["PgEgress__WorkDirectory"] = Path.Combine(_root, "work"),
        };
        await using var functions = FunctionsAppHost.Build(settings);
        await functions.Services.GetRequiredService<PipelineStartup>().RunAsync(default);
        await using var host = HostProcess.Start(new Dictionary<string, string?>(settings) { ["PgEgress__Api__Key"] = Key });
        using var http = new HttpClient { BaseAddress = new Uri(await host.WaitListeningAsync(TimeSpan.FromSeconds(60))) };
        http.DefaultRequestHeaders.Add("x-functions-key", Key);

        var mismatches = new List<string>();
        async Task<JsonNode?> Compare(string method, string path)
        {
            var f = await functions.SendAsync(method, path);
            using var h = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/api/" + path));
            var hostBody = await h.Content.ReadAsStringAsync();
            var hostType = h.Content.Headers.ContentType?.MediaType;
            var functionsType = f.ContentType is null ? null : MediaTypeHeaderValue.Parse(f.ContentType).MediaType;
            if ((int)h.StatusCode != f.StatusCode || hostType != functionsType)
                mismatches.Add($"{method} {path}: Host {(int)h.StatusCode} {hostType}, Functions {f.StatusCode} {functionsType}");
            var hostJson = Masked(JsonNode.Parse(hostBody));
            var functionsJson = Masked(JsonNode.Parse(f.Body));
            if (!JsonNode.DeepEquals(hostJson, functionsJson))
                mismatches.Add($"{method} {path}: Host {hostJson?.ToJsonString()} vs Functions {functionsJson?.ToJsonString()}");
            return JsonNode.Parse(f.Body);
        }

        await Compare("GET", "health");
        await Compare("GET", "ready");
        await Compare("GET", "status");
        await Compare("POST", "tables/" + Uri.EscapeDataString("no..such") + "/reload");
        await Compare("POST", "tables/public.nosuch/reload");
        await Compare("POST", "tables/pg_catalog.pg_class/reload");
        await Compare("GET", "operations/abc");
        await Compare("GET", "operations/999999");
        // One reload requested on each side: each creates its own operation (202), then finds the waiting one (200).
        var created = await functions.SendAsync("POST", "tables/" + Uri.EscapeDataString("\"Sales\".\"Order\"") + "/reload");
        Assert.True(created.StatusCode == 202, $"{created.StatusCode} {created.Body}");
        var again = await Compare("POST", "tables/" + Uri.EscapeDataString("\"Sales\".\"Order\"") + "/reload");
        Assert.Equal(JsonNode.Parse(created.Body)!["id"]!.ToJsonString(), again!["id"]!.ToJsonString());
        await Compare("GET", "operations/" + again["id"]);
        await Compare("GET", "status");

        // The status page: the same HTML under the same policy, and no key needed on either.
        var page = await functions.SendAsync("GET", "page");
        using var anonymous = new HttpClient { BaseAddress = http.BaseAddress };
        using var hostPage = await anonymous.GetAsync("/api/page");
        Assert.Equal((int)hostPage.StatusCode, page.StatusCode);
        Assert.Equal(hostPage.Content.Headers.ContentType?.ToString(), page.ContentType);
        Assert.Equal(await hostPage.Content.ReadAsStringAsync(), page.Body);
        foreach (var header in new[] { "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Cache-Control" })
            Assert.Equal(string.Join(", ", hostPage.Headers.GetValues(header)), page.Headers![header]);

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    private static JsonNode? Masked(JsonNode? node, string path = "$")
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, _) in o.ToList())
                    if (Volatile.Contains(name) || MovingPositions.Contains($"{path}.{name}")) o[name] = "*";
                    else Masked(o[name], $"{path}.{name}");
                break;
            case JsonArray a:
                foreach (var item in a) Masked(item, path + "[]");
                break;
        }
        return node;
    }
}
