using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Tests.Fixtures;
using PgEgress.Functions.Verification;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>A verification requested over the app's HTTP trigger is run by the verification orchestration the watchdog starts.</summary>
[Collection(PostgresCollection.Name)]
public sealed class VerifyOrchestrationTests(PostgresFixture pg)
{
    [Fact]
    public async Task A_verification_requested_over_HTTP_is_run_by_the_verify_orchestration()
    {
        await using var fx = await InProcessApp.StartAsync(pg, "verify");
        var all = fx.App.Services.GetRequiredService<EternalOrchestrations>();
        await WatchdogAndControlTests.RunWatchdogAsync(fx);
        await fx.WaitForInstanceAsync(all.Ingest.InstanceId, i => i?.ReadInputAs<IngestState>() is { Prepared: true }, "the ingest prepared");
        await using (var c = new NpgsqlConnection(fx.Database))
        {
            await c.OpenAsync();
            await new NpgsqlCommand("insert into t select g, 'v' from generate_series(1, 50) g", c).ExecuteNonQueryAsync();
        }

        var requested = await fx.App.SendAsync("POST", "tables/public.t/verify", fx.Client);
        Assert.True(requested.StatusCode == 202, requested.Body);
        var id = JsonDocument.Parse(requested.Body).RootElement.GetProperty("id").GetInt64();
        var done = await InProcessApp.WaitForAsync(() => fx.App.SendAsync("GET", $"verifications/{id}", fx.Client),
            r => JsonDocument.Parse(r.Body).RootElement.GetProperty("finished_at").ValueKind != JsonValueKind.Null, $"verification {id} finished");
        var verification = JsonDocument.Parse(done.Body).RootElement;
        Assert.True(verification.GetProperty("state").GetString() == "completed", done.Body);
        Assert.Equal(50, verification.GetProperty("rows_scanned").GetInt64());
        Assert.Equal(0, verification.GetProperty("missing_in_files").GetInt64() + verification.GetProperty("only_in_files").GetInt64()
            + verification.GetProperty("different").GetInt64());
        Assert.True(fx.InvocationsOf(nameof(VerifyActivities.RunVerification)) >= 1);
    }
}
