using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgEgress.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Tests.HostProcess;

/// <summary>The shared running host with a Postgres sink ("mirror", into a database of its own), so the page has a sink to show.</summary>
public sealed class StatusPageHostFixture(PostgresFixture pg) : RunningHostFixture(pg)
{
    protected override async Task<IReadOnlyDictionary<string, string?>> ExtraSettingsAsync(PostgresFixture postgres) => new Dictionary<string, string?>
    {
        ["PgEgress__Sinks__mirror__Kind"] = "Postgres",
        ["PgEgress__Sinks__mirror__ConnectionString"] = await postgres.CreateUniqueDatabaseAsync("hp_page_mirror"),
        ["PgEgress__Sinks__mirror__CreateTables"] = "true",
    };
}

/// <summary>
/// The status page of a running host in a real headless Chromium: an operator opens <c>/</c>, types the key, and sees
/// the slot, the tables with their mode, every consumer's lag with its sparkline, and the operations; a wrong key shows
/// the 401 in plain words. The page runs under its strict Content-Security-Policy, so a script the policy does not
/// allow renders nothing and these tests fail.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StatusPageBrowserTests(StatusPageHostFixture fx, ITestOutputHelper output) : IClassFixture<StatusPageHostFixture>
{
    /// <summary>What the page shows, read from its DOM as text a user reads.</summary>
    private sealed record Seen(string Error, bool ErrorShown, string Slot, string[][] Tables, string[][] Lag, int[] SparklinePoints, string[][] Operations,
        double[][] ProgressBars, string[][] Sinks, bool TablesShown, string Verification, bool VerificationShown, string Location);

    private const string ReadPage = """
        (() => {
          const rows = id => [...document.querySelectorAll(`#${id} tr`)].map(tr => [...tr.cells].map(c => c.textContent.trim()));
          const slot = [...document.querySelectorAll("#slot div")].find(d => d.querySelector("span").textContent === "Slot");
          return {
            error: document.getElementById("error").textContent,
            errorShown: !document.getElementById("error").hidden,
            slot: slot ? slot.querySelector("b").textContent : "",
            tables: rows("tables"),
            lag: rows("lag"),
            sparklinePoints: [...document.querySelectorAll("#lag svg polyline")].map(p => p.points.numberOfItems),
            operations: rows("operations"),
            sinks: rows("sinks"),
            progressBars: [...document.querySelectorAll("#operations progress")].map(p => [p.value, p.max]),
            tablesShown: !document.getElementById("tables-section").hidden,
            verification: document.getElementById("verification").textContent,
            verificationShown: !document.getElementById("verification-section").hidden,
            location: location.href,
          };
        })()
        """;

    private async Task<Seen> SeeAsync(HeadlessChromium browser) =>
        JsonSerializer.Deserialize<Seen>(JsonSerializer.Serialize(await browser.EvaluateAsync<JsonElement>(ReadPage)), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;

    private async Task<Seen> SeeUntilAsync(HeadlessChromium browser, Func<Seen, bool> done, string what)
    {
        Seen? last = null;
        try
        {
            return await Eventually.ValueAsync(async () => done(last = await SeeAsync(browser)) ? last : null, TimeSpan.FromSeconds(30), what);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; the page showed: {JsonSerializer.Serialize(last)}", e);
        }
    }

    [Fact]
    public async Task With_the_typed_key_the_page_shows_slot_tables_lag_sparklines_and_operations()
    {
        await using (var insert = fx.Db.CreateCommand("INSERT INTO app.items SELECT g, 'page ' || g FROM generate_series(1, 40) g ON CONFLICT DO NOTHING"))
            await insert.ExecuteNonQueryAsync();
        using (var flush = new HttpRequestMessage(HttpMethod.Post, "/api/flush"))
        {
            flush.Headers.Add("x-functions-key", RunningHostFixture.Key);
            using var flushed = await fx.Http.SendAsync(flush);
            Assert.Equal(HttpStatusCode.OK, flushed.StatusCode);
        }
        using (var reload = new HttpRequestMessage(HttpMethod.Post, "/api/tables/app.reloaded/reload"))
        {
            reload.Headers.Add("x-functions-key", RunningHostFixture.Key);
            using var requested = await fx.Http.SendAsync(reload);
            Assert.True(requested.IsSuccessStatusCode, $"reload request answered {requested.StatusCode}");
        }

        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync(fx.Http.BaseAddress + "");
        var before = await SeeUntilAsync(browser, s => s.ErrorShown, "the page to ask for the key");
        Assert.Contains("Enter the API key", before.Error);
        Assert.False(before.TablesShown);

        await browser.EvaluateAsync<bool>("document.getElementById('key').focus(), true");
        await browser.TypeAndEnterAsync(RunningHostFixture.Key);
        var seen = await SeeUntilAsync(browser,
            s => s.Tables.Any(t => t[0] == "app.items" && t[4] != "—") && s.Operations.Any(o => o[2] == "app.reloaded") && s.SparklinePoints.Length > 0,
            "the status to render with the flushed table and the reload");

        Assert.False(seen.ErrorShown, $"error shown: {seen.Error}");
        Assert.Equal(fx.Slot, seen.Slot);
        var items = seen.Tables.Single(t => t[0] == "app.items");
        Assert.Equal("streaming", items[1]);
        Assert.Matches(@"^\d{8}T\d{6}Z$", items[4]);
        Assert.Equal(["flush", "ingest", "sink:mirror"], seen.Lag.Select(l => l[0]).Order(StringComparer.Ordinal).ToArray());
        var ingest = seen.Lag.Single(l => l[0] == "ingest");
        Assert.Matches(@"^\d+(\.\d)? (B|KiB|MiB|GiB)$", ingest[1]);
        Assert.Matches(@"^\d+\.\d s$", ingest[2]);
        // Two sparklines (bytes, seconds) per consumer, each a line of at least two points.
        Assert.Equal(seen.Lag.Length * 2, seen.SparklinePoints.Length);
        Assert.All(seen.SparklinePoints, n => Assert.True(n >= 2, $"a sparkline has {n} point(s)"));
        Assert.Single(seen.Operations, o => o[1] == "reload" && o[2] == "app.reloaded");
        // The reload is small: by the time the page shows it, it is done, and its bar is full.
        var finished = await SeeUntilAsync(browser, s => s.Operations.Any(o => o[2] == "app.reloaded" && o[3] == "completed"), "the reload to show completed");
        Assert.Equal(new[] { new double[] { 300, 300 } }, finished.ProgressBars);
        Assert.Contains("100%", finished.Operations.Single(o => o[2] == "app.reloaded")[4]);

        var mirror = finished.Sinks.Single(k => k[0] == "mirror");
        Assert.Equal(["mirror", "Postgres", "yes"], mirror[..3]);

        var shot = Path.Combine(Path.GetTempPath(), $"pgegress-status-page-{fx.Slot}.png");
        await File.WriteAllBytesAsync(shot, await browser.ScreenshotAsync());
        output.WriteLine($"status page screenshot: {shot}");
        Assert.True(new FileInfo(shot).Length > 10_000, "the screenshot is nearly empty");
    }

    [Fact]
    public async Task A_wrong_key_from_the_link_shows_the_401_and_no_data_and_leaves_the_address_bar()
    {
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync(fx.Http.BaseAddress + "#key=not-the-key");
        var seen = await SeeUntilAsync(browser, s => s.Error.Contains("401"), "the page to report the refused key");

        Assert.True(seen.ErrorShown);
        Assert.Contains("The API key was refused (401 Unauthorized)", seen.Error);
        Assert.False(seen.TablesShown);
        Assert.Empty(seen.Tables);
        Assert.DoesNotContain("not-the-key", seen.Location);
    }

    /// <summary>How the intercepted /api/status answers the page in <see cref="The_page_shows_a_verification_and_says_when_the_source_is_down_or_unreachable"/>.</summary>
    private enum StatusAnswer { WithVerification, SourceDown, Unreachable }

    [Fact]
    public async Task The_page_shows_a_verification_and_says_when_the_source_is_down_or_unreachable()
    {
        await using var browser = await HeadlessChromium.StartAsync();
        // The browser's own request to /api/status, paused at its response: the Host's real answer with a verification
        // added (as /api/status carries one once verification runs), a 503 problem as the API sends for a source that
        // is down, or a connection failure.
        var answer = StatusAnswer.WithVerification;
        browser.On("Fetch.requestPaused", async paused =>
        {
            var requestId = paused["requestId"]!.GetValue<string>();
            switch (answer)
            {
                case StatusAnswer.WithVerification:
                    var real = await browser.SendAsync("Fetch.getResponseBody", new { requestId });
                    var status = JsonNode.Parse(real["base64Encoded"]!.GetValue<bool>()
                        ? Encoding.UTF8.GetString(Convert.FromBase64String(real["body"]!.GetValue<string>())) : real["body"]!.GetValue<string>())!;
                    status["last_verification"] = new JsonObject
                    {
                        ["id"] = 7, ["table"] = "app.items", ["state"] = "completed", ["discrepancies"] = 0, ["rows_scanned"] = 40,
                        ["finished_at"] = "2026-12-02T12:00:00Z",
                    };
                    await FulfillAsync(browser, requestId, 200, "application/json", status.ToJsonString());
                    break;
                case StatusAnswer.SourceDown:
                    await FulfillAsync(browser, requestId, 503, "application/problem+json",
                        """{"title":"Service Unavailable","status":503,"detail":"the source database is unavailable: Connection refused"}""");
                    break;
                default:
                    await browser.SendAsync("Fetch.failRequest", new { requestId, errorReason = "ConnectionRefused" });
                    break;
            }
        });
        await browser.SendAsync("Fetch.enable", new { patterns = new[] { new { urlPattern = "*/api/status", requestStage = "Response" } } });
        await browser.NavigateAsync(fx.Http.BaseAddress + "#key=" + RunningHostFixture.Key);

        var verified = await SeeUntilAsync(browser, s => s.VerificationShown, "the verification to show");
        Assert.Contains("app.items", verified.Verification);
        Assert.Contains("discrepancies0", verified.Verification);
        Assert.False(verified.ErrorShown, verified.Error);

        answer = StatusAnswer.SourceDown;
        var down = await SeeUntilAsync(browser, s => s.ErrorShown, "the page to report the source down");
        Assert.Equal("PgEgress cannot read its source right now (503 Service Unavailable). the source database is unavailable: Connection refused", down.Error);

        answer = StatusAnswer.Unreachable;
        var unreachable = await SeeUntilAsync(browser, s => s.Error.Contains("network"), "the page to report the network failure");
        Assert.StartsWith("Cannot reach PgEgress (network error)", unreachable.Error);

        answer = StatusAnswer.WithVerification;
        var back = await SeeUntilAsync(browser, s => !s.ErrorShown, "the error to clear once /api/status answers again");
        Assert.Contains("app.items", string.Join(" ", back.Tables.Select(t => t[0])));
    }

    private static Task FulfillAsync(HeadlessChromium browser, string requestId, int responseCode, string contentType, string body) =>
        browser.SendAsync("Fetch.fulfillRequest", new
        {
            requestId, responseCode, responseHeaders = new[] { new { name = "Content-Type", value = contentType } },
            body = Convert.ToBase64String(Encoding.UTF8.GetBytes(body)),
        });

    [Fact]
    public async Task The_page_is_served_without_the_key_under_a_strict_policy_and_the_same_at_api_page()
    {
        using var root = await fx.Http.GetAsync("/");
        using var api = await fx.Http.GetAsync("/api/page");
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("text/html", root.Content.Headers.ContentType?.MediaType);
        var policy = string.Join("; ", root.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", policy);
        Assert.Matches(@"script-src 'sha256-[A-Za-z0-9+/=]+'", policy);
        Assert.DoesNotContain("unsafe-inline", policy);
        var html = await root.Content.ReadAsStringAsync();
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
        Assert.DoesNotContain("https://", html);
        Assert.Equal(html, await api.Content.ReadAsStringAsync());
        Assert.Equal(policy, string.Join("; ", api.Headers.GetValues("Content-Security-Policy")));
    }
}
