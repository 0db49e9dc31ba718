using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PgEgress.Core.Api;
using PgEgress.Core.Health;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Tests.Fixtures;
using Xunit.Abstractions;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>
/// The app's IngestOrchestrator and its activities under the in-process Durable engine on a real PostgreSQL:
/// generations continue as new with growing counters, pause on the configured idle timer, and back off after the
/// retries of an activity gave up until the source is there.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class IngestGenerationTests(PostgresFixture pg, ITestOutputHelper output)
{
    [Fact]
    public async Task Generations_continue_as_new_with_growing_counters_and_pause_the_configured_idle_time()
    {
        var watch = Stopwatch.StartNew();
        await using var fx = await InProcessApp.StartAsync(pg, "gen");
        var ingest = fx.App.Services.GetRequiredService<EternalOrchestrations>().Ingest;
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(ingest.Orchestrator, ingest.Input, new StartOrchestrationOptions { InstanceId = ingest.InstanceId });

        var first = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 1 }, "a first slice");
        await using (var c = new NpgsqlConnection(fx.Database))
        {
            await c.OpenAsync();
            await new NpgsqlCommand("insert into t select g, 'x' from generate_series(1, 5) g", c).ExecuteNonQueryAsync();
        }
        var busy = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Changes: >= 5 }, "the inserts staged");
        var state = busy!.ReadInputAs<IngestState>()!;
        Assert.True(state.Generation > first!.ReadInputAs<IngestState>()!.Generation);
        // Each generation's activity runs one slice or more on its session (SliceRun).
        Assert.True(state.Slices >= state.Generation, $"{state.Slices} slices in {state.Generation} generations");
        Assert.Equal(5, state.Changes);
        Assert.True(state.Prepared);
        Assert.Equal(TimeSpan.FromSeconds(1), state.IdleDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), state.Timing!.FailureBackoff);

        // Two idle generations: the next one starts no sooner than the idle slice (1 s) plus the idle timer (1 s) after the last.
        var idle = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { } s && s.IdleSlices > state.IdleSlices, "an idle slice");
        var next = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i!.ReadInputAs<IngestState>()!.Generation > idle!.ReadInputAs<IngestState>()!.Generation, "the next generation");
        var gap = next!.CreatedAt - idle!.CreatedAt;
        output.WriteLine($"idle generation to the next: {gap.TotalMilliseconds:F0} ms (slice 1 s + idle timer 1 s); whole test {watch.Elapsed.TotalSeconds:F1} s");
        Assert.True(gap >= TimeSpan.FromSeconds(2), $"the idle generation lasted {gap}");
        Assert.Null(next.ReadInputAs<IngestState>()!.LastError);
    }

    [Fact]
    public async Task An_instance_started_before_the_timings_were_settings_runs_with_the_defaults()
    {
        var watch = Stopwatch.StartNew();
        await using var fx = await InProcessApp.StartAsync(pg, "legacy");
        var ingest = fx.App.Services.GetRequiredService<EternalOrchestrations>().Ingest;
        // The input as the app wrote it before: no Timing.
        var legacy = JsonNode.Parse(JsonSerializer.Serialize((IngestState)ingest.Input))!.AsObject();
        Assert.True(legacy.Remove(nameof(IngestState.Timing)));
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(ingest.Orchestrator, legacy, new StartOrchestrationOptions { InstanceId = ingest.InstanceId });

        var running = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 2 }, "two slices");
        var state = running!.ReadInputAs<IngestState>()!;
        Assert.True(state.Prepared);
        Assert.Null(state.Timing);
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task An_unreachable_source_is_transient_every_attempt_of_the_retry_policy_is_spent_on_it()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var unreachable = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Port = port, Timeout = 2 }.ConnectionString;
        await using var fx = await InProcessApp.StartAsync(pg, "unreach", database: unreachable);
        var ingest = fx.App.Services.GetRequiredService<EternalOrchestrations>().Ingest;
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(ingest.Orchestrator, ingest.Input, new StartOrchestrationOptions { InstanceId = ingest.InstanceId });

        var failed = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { LastError: not null }, "the first failed generation");
        var state = failed!.ReadInputAs<IngestState>()!;

        Assert.Equal(3, fx.InvocationsOf(nameof(IngestActivities.PrepareSource), DateTime.MinValue, state.LastErrorAt!.Value));
        Assert.Equal("transient", state.LastErrorKind);
        var ready = await fx.App.Services.GetRequiredService<PgEgressApi>().ReadyAsync(CancellationToken.None);
        var errors = ((ReadinessReport)ready.Body!).Checks.Single(c => c.Name == "errors");
        Assert.True(errors.Ok, errors.Detail);
        Assert.Contains("ingest: transient", errors.Detail);
    }

    [Fact]
    public async Task A_missing_database_is_permanent_one_attempt_per_generation_then_backed_off_and_prepared_again_until_it_is_there()
    {
        var watch = Stopwatch.StartNew();
        var name = "fn_later_" + Guid.NewGuid().ToString("N")[..8];
        var missing = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Database = name }.ConnectionString;
        await using var fx = await InProcessApp.StartAsync(pg, "later", database: missing);
        var ingest = fx.App.Services.GetRequiredService<EternalOrchestrations>().Ingest;
        await fx.Client.ScheduleNewOrchestrationInstanceAsync(ingest.Orchestrator, ingest.Input, new StartOrchestrationOptions { InstanceId = ingest.InstanceId });

        // A missing database is a permanent failure: one attempt, not the configured three (the retry policy does not
        // spend them on it), then the generation records the error (at the orchestration's time of the failure) and its
        // kind, and backs off; the next generation starts once the back-off is over.
        var failed = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { LastError: not null }, "the first failed generation");
        var state = failed!.ReadInputAs<IngestState>()!;
        Assert.Equal(1, fx.InvocationsOf(nameof(IngestActivities.PrepareSource), DateTime.MinValue, state.LastErrorAt!.Value));
        Assert.Equal("permanent", state.LastErrorKind);
        Assert.False(state.Prepared);
        Assert.Equal(0, state.Slices);
        Assert.Contains(name, state.LastError);
        output.WriteLine($"LastError: {state.LastError}");
        // The app's own /api/ready (Core's, as the Host's) names it.
        var ready = await fx.App.Services.GetRequiredService<PgEgressApi>().ReadyAsync(CancellationToken.None);
        Assert.Equal(503, ready.StatusCode);
        var errors = ((ReadinessReport)ready.Body!).Checks.Single(c => c.Name == "errors");
        Assert.False(errors.Ok);
        Assert.Contains("ingest: permanent (SQLSTATE 3D000)", errors.Detail);
        Assert.Contains(name, errors.Detail);

        // The next generation prepares again: one more attempt, a second error, no sooner than the 2 s back-off after the first.
        var again = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i!.ReadInputAs<IngestState>()!.Generation >= 2, "the second failed generation");
        var second = again!.ReadInputAs<IngestState>()!.LastErrorAt!.Value;
        Assert.Equal(1, fx.InvocationsOf(nameof(IngestActivities.PrepareSource), state.LastErrorAt.Value, second));
        Assert.True(second - state.LastErrorAt >= TimeSpan.FromSeconds(2), $"back-off {second - state.LastErrorAt}");
        // None before the back-off was over.
        Assert.Equal(0, fx.InvocationsOf(nameof(IngestActivities.PrepareSource), state.LastErrorAt.Value, state.LastErrorAt.Value.AddSeconds(2)));
        Assert.Equal(0, fx.InvocationsOf(nameof(IngestActivities.ConsumeSlice)));

        await using (var admin = new NpgsqlConnection(pg.ConnectionString))
        {
            await admin.OpenAsync();
            await new NpgsqlCommand($"create database {name}", admin).ExecuteNonQueryAsync();
        }
        await using (var c = new NpgsqlConnection(missing))
        {
            await c.OpenAsync();
            await new NpgsqlCommand("create table t(id int primary key, note text)", c).ExecuteNonQueryAsync();
        }
        var ingesting = await fx.WaitForInstanceAsync(ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Slices: >= 1 }, "a slice once the database is there");
        var after = ingesting!.ReadInputAs<IngestState>()!;
        Assert.True(after.Prepared);
        Assert.Null(after.LastError);
        Assert.Null(after.LastErrorKind);
        output.WriteLine($"whole test {watch.Elapsed.TotalSeconds:F1} s");
    }
}
