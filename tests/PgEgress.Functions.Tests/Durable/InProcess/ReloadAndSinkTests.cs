using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Sinks;
using PgEgress.Functions.Tests.Fixtures;
using PgEgress.Tests.Sinks;
using Xunit.Abstractions;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>
/// The reload and sink orchestrations under the in-process engine, with the ingest: a reload requested over HTTP is
/// exported by ReloadOrchestrator into a file, and the staged changes reach a real webhook on loopback through
/// SinkOrchestrator.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReloadAndSinkTests(PostgresFixture pg, ITestOutputHelper output)
{
    [Fact]
    public async Task A_reload_requested_over_HTTP_is_exported_by_the_reload_orchestration()
    {
        var watch = Stopwatch.StartNew();
        await using var fx = await InProcessApp.StartAsync(pg, "reload");
        await using (var c = new NpgsqlConnection(fx.Database))
        {
            await c.OpenAsync();
            await new NpgsqlCommand("insert into t select g, 'r' from generate_series(1, 50) g", c).ExecuteNonQueryAsync();
        }
        var all = fx.App.Services.GetRequiredService<EternalOrchestrations>();
        await WatchdogAndControlTests.RunWatchdogAsync(fx);
        // The source prepared (registry, slot) before a reload can be asked for.
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Prepared: true }, "the ingest prepared");

        var requested = await fx.App.SendAsync("POST", "tables/public.t/reload", fx.Client);
        Assert.True(requested.StatusCode is 200 or 202, requested.Body);
        var id = JsonDocument.Parse(requested.Body).RootElement.GetProperty("id").GetInt64();
        var done = await InProcessApp.WaitForAsync(() => fx.App.SendAsync("GET", $"operations/{id}", fx.Client),
            r => JsonDocument.Parse(r.Body).RootElement.GetProperty("state").GetString() is "completed" or "failed", $"operation {id} finished");
        var operation = JsonDocument.Parse(done.Body).RootElement;
        Assert.Equal("completed", operation.GetProperty("state").GetString());
        Assert.Equal(50, operation.GetProperty("rows").GetInt64());
        var path = operation.GetProperty("path").GetString()!;
        Assert.True(File.Exists(Path.Combine(fx.OutputFolder, path)), $"{path} is not in {fx.OutputFolder}");
        Assert.True(fx.InvocationsOf(nameof(Reload.ReloadActivities.ExportReloads)) >= 1);
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task The_sink_orchestration_delivers_staged_changes_to_a_webhook()
    {
        var watch = Stopwatch.StartNew();
        var received = new ConcurrentQueue<string>();
        await using var receiver = await LoopbackReceiver.StartAsync(async http =>
        {
            using var reader = new StreamReader(http.Request.Body);
            received.Enqueue(await reader.ReadToEndAsync());
            http.Response.StatusCode = 200;
        });
        var url = receiver.Url;

        await using var fx = await InProcessApp.StartAsync(pg, "sink", new Dictionary<string, string?>
        {
            ["PgEgress__Sinks__hook__Kind"] = "Http",
            ["PgEgress__Sinks__hook__Url"] = url + "/hook",
        });
        var all = fx.App.Services.GetRequiredService<EternalOrchestrations>();
        await WatchdogAndControlTests.RunWatchdogAsync(fx);
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 1 }, "the ingest slicing");
        await using (var c = new NpgsqlConnection(fx.Database))
        {
            await c.OpenAsync();
            await new NpgsqlCommand("insert into t select g, 'hook-' || g from generate_series(1, 3) g", c).ExecuteNonQueryAsync();
        }

        await InProcessApp.WaitForAsync(() => Task.FromResult(received.Count(b => b.Contains("hook-", StringComparison.Ordinal))), n => n >= 3, "three events at the webhook");
        foreach (var n in new[] { 1, 2, 3 }) Assert.Contains(received, b => b.Contains($"\"hook-{n}\"", StringComparison.Ordinal));
        Assert.True(fx.InvocationsOf(nameof(SinkActivities.DeliverSink)) >= 1);
        var sink = await fx.Client.GetInstanceAsync(all.Sinks.Single().InstanceId, true);
        Assert.Equal(Microsoft.DurableTask.Client.OrchestrationRuntimeStatus.Running, sink!.RuntimeStatus);
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }
}
