using System.Net;
using System.Text.Json;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// Api:MutatingRequestsPerMinute on a real Host: past the limit a changing request from the same address is 429 with
/// Retry-After and a problem body, before it does anything; reads still answer.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ApiRateLimitTests(PostgresFixture pg)
{
    private static readonly HttpClient Http = new();

    [Fact]
    public async Task Changing_requests_past_the_limit_are_429_with_Retry_After_and_reads_go_on()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "api_rate");
        await using var host = await rig.StartHostAsync(extra: new Dictionary<string, string?> { ["PgEgress__Api__MutatingRequestsPerMinute"] = "3" });

        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++) answers.Add(await SendAsync(host, HttpMethod.Post, "/api/tables/app.accounts/reload"));
        // 202 for a new reload, 200 for the one still waiting (an empty table's reload may be done before the next request).
        Assert.All(answers.Take(3), a => Assert.True(a.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK, $"{a.StatusCode}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, answers[^1].StatusCode);
        var refused = answers[^1];
        Assert.True(refused.Headers.RetryAfter?.Delta is { TotalSeconds: > 0 and <= 60 }, $"Retry-After: {refused.Headers.RetryAfter}");
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("MutatingRequestsPerMinute", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
        // The refused request did nothing: one reload per 202.
        Assert.Equal(answers.Count(a => a.StatusCode == HttpStatusCode.Accepted),
            await rig.ScalarAsync<long>("SELECT count(*) FROM cdc_registry.operations WHERE table_name = 'app.accounts' AND kind = 'reload'"));

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(host, HttpMethod.Get, "/api/status")).StatusCode);
    }

    private static async Task<HttpResponseMessage> SendAsync(HostProcess host, HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, host.Url + path);
        request.Headers.Add("x-functions-key", DurabilityRig.ApiKey);
        var response = await Http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }
}
