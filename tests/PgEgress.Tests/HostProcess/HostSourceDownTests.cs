using System.Net;
using System.Text.Json;
using Npgsql;
using PgEgress.Testing;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// A host whose source goes down after start: every route that needs the source answers 503 problem+json saying so
/// (a client can tell "retry later" from a fault of PgEgress), and the answer carries no part of the connection string.
/// </summary>
public sealed class HostSourceDownTests
{
    private const string Secret = "Pw-down-8kLm2-never-echo";
    private const string Key = "source-down-key-5Tq9";

    [Fact]
    public async Task Status_operations_reload_and_flush_answer_503_problem_json_when_the_source_is_stopped()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false });
        await cluster.ExecuteAsync($"ALTER ROLE postgres PASSWORD '{Secret}'; CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY)");
        var root = Directory.CreateTempSubdirectory("pgegress-hostdown-").FullName;
        try
        {
            var cs = new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Username = "postgres", Password = Secret }.ConnectionString;
            await using var host = HostProcess.Start(HostSettings.For(cs, root, apiKey: Key));
            using var http = new HttpClient { BaseAddress = new Uri(await host.WaitListeningAsync(TimeSpan.FromSeconds(60))), Timeout = TimeSpan.FromSeconds(60) };

            await cluster.StopAsync(immediate: true);

            foreach (var (method, path) in new[]
                     {
                         (HttpMethod.Get, "/api/status"), (HttpMethod.Get, "/api/operations/1"),
                         (HttpMethod.Post, "/api/tables/app.items/reload"), (HttpMethod.Post, "/api/flush"),
                     })
            {
                using var request = new HttpRequestMessage(method, path);
                request.Headers.Add("x-functions-key", Key);
                using var response = await http.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();

                var what = $"{method} {path}: {(int)response.StatusCode} '{text}'";
                Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, what);
                Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", what);
                var detail = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString()!;
                Assert.True(detail.StartsWith("the source database is unavailable: ", StringComparison.Ordinal), what);
                Assert.DoesNotContain(Secret, text, StringComparison.Ordinal);
            }
            await host.TerminateAsync(TimeSpan.FromSeconds(40));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
