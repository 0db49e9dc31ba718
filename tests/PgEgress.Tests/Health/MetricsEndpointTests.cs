using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Npgsql;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.HostProcess;
using PgEgress.Tests.Sinks;
using static PgEgress.Tests.Health.PrometheusText;

namespace PgEgress.Tests.Health;

/// <summary>
/// The Host's GET /metrics as Prometheus scrapes it: key-protected, valid exposition text (read by a strict parser of
/// the format, not by product code), every series README's Metrics section lists, with the numbers a workload implies.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class MetricsEndpointTests(PostgresFixture pg) : IDisposable
{
    private const string Key = "metrics-key-0123456789";
    private const int Rows = 40;
    private const int Transactions = 5;

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-metrics-").FullName;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(150) };

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>The series README "Metrics" documents (Prometheus names).</summary>
    public static readonly string[] Documented =
    [
        "pgegress_slot_active", "pgegress_slot_retained_wal_bytes", "pgegress_replication_lag_bytes", "pgegress_replication_delay_seconds",
        "pgegress_ingest_changes_total", "pgegress_ingest_transactions_total", "pgegress_ingest_staged_bytes_total", "pgegress_ingest_slice_duration_seconds",
        "pgegress_flush_duration_seconds", "pgegress_flush_rows_total", "pgegress_flush_written_bytes_total", "pgegress_flush_files_total",
        "pgegress_table_mode", "pgegress_table_last_batch_timestamp_seconds", "pgegress_consumer_lag_bytes", "pgegress_consumer_delay_seconds",
        "pgegress_sink_delivered_total", "pgegress_sink_retried_total", "pgegress_sink_dead_lettered_total", "pgegress_sink_delivery_latency_seconds",
        "pgegress_reload_rows_total", "pgegress_reload_duration_seconds", "pgegress_errors_total", "pgegress_clients",
        "pgegress_verification_discrepancies", "pgegress_verification_rows_scanned_total", "pgegress_verification_duration_seconds",
    ];

    [Fact]
    public async Task After_a_workload_metrics_shows_every_documented_series_with_the_workloads_numbers()
    {
        // The sink's first request is refused for a while (a retry), row 7's event for good (a dead letter); the rest are taken.
        var requests = 0;
        await using var receiver = await LoopbackReceiver.StartAsync(async http =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            http.Response.StatusCode = body.Contains("\"note 7\"", StringComparison.Ordinal) ? 400 : Interlocked.Increment(ref requests) == 1 ? 503 : 204;
        });
        var (db, host) = await StartWithSinkAsync("metrics", "hook", receiver, ("PgEgress__Sinks__hook__Workers", "1"));
        await using var _ = db;
        await using var __ = host;

        using (var anonymous = await _http.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using (var wrong = await _http.GetAsync("/metrics?code=not-the-key-at-all"))
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        for (var t = 0; t < Transactions; t++)
            await ExecAsync(db, $"INSERT INTO app.items SELECT g, 'note ' || g FROM generate_series({t * (Rows / Transactions) + 1}, {(t + 1) * (Rows / Transactions)}) g");
        using (var flush = await SendAsync(HttpMethod.Post, "/api/flush")) Assert.Equal(HttpStatusCode.OK, flush.StatusCode);

        // Gauges come from a background sample at most a few seconds old: scrape until it shows the flush and the sink caught up.
        var families = await ScrapeUntilAsync(f =>
            Value(f, "pgegress_sink_delivered_total", ("sink", "hook")) + Value(f, "pgegress_sink_dead_lettered_total", ("sink", "hook")) == Rows
            && Value(f, "pgegress_consumer_lag_bytes", ("consumer", "sink:hook")) == 0 && Value(f, "pgegress_consumer_lag_bytes", ("consumer", "flush")) == 0
            && f.ContainsKey("pgegress_table_last_batch_timestamp_seconds"));

        Assert.Equal(Rows, Value(families, "pgegress_ingest_changes_total"));
        Assert.Equal(Transactions, Value(families, "pgegress_ingest_transactions_total"));
        Assert.True(Value(families, "pgegress_ingest_staged_bytes_total") > Rows * 8);
        Assert.True(Value(families, "pgegress_ingest_slice_duration_seconds_count") >= 1);
        Assert.Equal(Rows, Value(families, "pgegress_flush_rows_total", ("table", "app.items")));
        Assert.True(Value(families, "pgegress_flush_files_total", ("table", "app.items")) >= 1);
        Assert.True(Value(families, "pgegress_flush_written_bytes_total", ("table", "app.items")) > 0);
        Assert.True(Value(families, "pgegress_flush_duration_seconds_count") >= 1);
        Assert.InRange(Value(families, "pgegress_flush_duration_seconds_sum"), 0, 60);
        Assert.Equal(Rows - 1, Value(families, "pgegress_sink_delivered_total", ("sink", "hook")));
        Assert.Equal(1, Value(families, "pgegress_sink_dead_lettered_total", ("sink", "hook")));
        Assert.True(Value(families, "pgegress_sink_retried_total", ("sink", "hook")) >= 1);
        Assert.True(Value(families, "pgegress_errors_total", ("kind", "sink"), ("class", "transient")) >= 2, "the 503 and the 400 are transient sink errors");
        Assert.True(Value(families, "pgegress_sink_delivery_latency_seconds_count", ("sink", "hook")) >= 1);
        Assert.InRange(Value(families, "pgegress_sink_delivery_latency_seconds_sum", ("sink", "hook")) / Value(families, "pgegress_sink_delivery_latency_seconds_count", ("sink", "hook")), 0, 60);
        Assert.Contains(Value(families, "pgegress_slot_active"), new[] { 0.0, 1.0 });
        Assert.InRange(Value(families, "pgegress_slot_retained_wal_bytes"), 0, 64 << 20);
        Assert.InRange(Value(families, "pgegress_replication_lag_bytes"), 0, 64 << 20);
        Assert.InRange(Value(families, "pgegress_replication_delay_seconds"), 0, 30);
        Assert.Equal(0, Value(families, "pgegress_consumer_delay_seconds", ("consumer", "sink:hook")));
        Assert.Equal(1, Value(families, "pgegress_table_mode", ("table", "app.items"), ("mode", "streaming")));
        Assert.InRange(Value(families, "pgegress_table_last_batch_timestamp_seconds", ("table", "app.items")),
            DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        Assert.Equal("counter", families["pgegress_ingest_changes_total"].Type);
        Assert.Equal("histogram", families["pgegress_flush_duration_seconds"].Type);
        Assert.Equal("gauge", families["pgegress_consumer_lag_bytes"].Type);
        // Npgsql's own instrumentation (db.client.* in OpenTelemetry's database conventions).
        Assert.Contains(families.Keys, k => k.StartsWith("db_client_", StringComparison.Ordinal));

        // A reload adds its rows and duration.
        using var reload = await SendAsync(HttpMethod.Post, "/api/tables/app.items/reload");
        var id = JsonDocument.Parse(await reload.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();
        families = await ScrapeUntilAsync(f => Value(f, "pgegress_reload_duration_seconds_count", ("table", "app.items")) >= 1);
        Assert.Equal(Rows, Value(families, "pgegress_reload_rows_total", ("table", "app.items")));
        Assert.InRange(Value(families, "pgegress_reload_duration_seconds_sum", ("table", "app.items")), 0, 60);
        Assert.True(id > 0);

        // A verification (through the Host's route and its background loop) adds rows scanned, duration and discrepancies.
        using var verify = await SendAsync(HttpMethod.Post, "/api/tables/app.items/verify");
        Assert.Equal(HttpStatusCode.Accepted, verify.StatusCode);
        var verification = JsonDocument.Parse(await verify.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement finished;
        while (true)
        {
            using var poll = await SendAsync(HttpMethod.Get, $"/api/verifications/{verification}");
            finished = JsonDocument.Parse(await poll.Content.ReadAsStringAsync()).RootElement;
            if (finished.GetProperty("finished_at").ValueKind != JsonValueKind.Null) break;
            Assert.True(DateTime.UtcNow < deadline, $"verification {verification} not finished after 60 s: {finished}");
            await Task.Delay(100);
        }
        Assert.True(finished.GetProperty("state").GetString() == "completed", finished.ToString());
        Assert.Equal(0, finished.GetProperty("discrepancies").GetArrayLength());
        families = await ScrapeUntilAsync(f => Value(f, "pgegress_verification_duration_seconds_count", ("table", "app.items")) >= 1);
        Assert.Equal(Rows, Value(families, "pgegress_verification_rows_scanned_total", ("table", "app.items")));
        foreach (var kind in new[] { "missing", "extra", "different" })
            Assert.Equal(0, Value(families, "pgegress_verification_discrepancies", ("table", "app.items"), ("kind", kind)));

        var missing = Documented.Where(n => !families.ContainsKey(n)).ToList();
        Assert.True(missing.Count == 0, $"series missing from /metrics: {string.Join(", ", missing)}");
        var undocumented = families.Keys.Where(k => k.StartsWith("pgegress_", StringComparison.Ordinal) && !Documented.Contains(k)).ToList();
        Assert.True(undocumented.Count == 0, $"series not in README's list: {string.Join(", ", undocumented)}");
    }

    [Fact]
    public async Task Ready_turns_503_naming_the_sink_that_is_further_behind_than_MaxLag()
    {
        // This sink's endpoint is down: everything staged stays undelivered.
        await using var receiver = await LoopbackReceiver.StartAsync(http =>
        {
            http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });
        var (db, host) = await StartWithSinkAsync("maxlag", "stuck", receiver, ("PgEgress__Health__MaxLag", "00:00:05"));
        await using var _ = db;
        await using var __ = host;

        var (code, lag) = await ReadyAsync();
        Assert.True(code == HttpStatusCode.OK, $"nothing is staged yet, so nothing lags: {lag}");

        await ExecAsync(db, "INSERT INTO app.items SELECT g, 'x' FROM generate_series(1, 10) g");
        using (var flush = await SendAsync(HttpMethod.Post, "/api/flush")) Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            (code, lag) = await ReadyAsync();
            if (code == HttpStatusCode.ServiceUnavailable) break;
            Assert.True(DateTime.UtcNow < deadline, $"ready stayed {code} with the sink stuck: {lag}");
            await Task.Delay(200);
        }
        Assert.Contains("sink:stuck is", lag);
        Assert.Contains("Health:MaxLag", lag);
        // The flush is caught up (the forced flush wrote everything), so only the sink is named.
        Assert.DoesNotContain("flush is", lag);

        using var status = await SendAsync(HttpMethod.Get, "/api/status");
        var consumers = JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement.GetProperty("lag").EnumerateArray()
            .ToDictionary(c => c.GetProperty("consumer").GetString()!, c => c);
        Assert.Equal(["flush", "ingest", "sink:stuck"], consumers.Keys.Order(StringComparer.Ordinal));
        Assert.True(consumers["sink:stuck"].GetProperty("bytes").GetInt64() > 0);
        Assert.True(consumers["sink:stuck"].GetProperty("seconds").GetDouble() > 5);
        Assert.Equal(0, consumers["flush"].GetProperty("bytes").GetInt64());
        Assert.InRange(consumers["ingest"].GetProperty("seconds").GetDouble(), 0, 30);
    }

    [Fact]
    public async Task While_the_source_is_down_metrics_answers_at_once_without_the_slot_and_lag_gauges_and_they_return_with_it()
    {
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false });
        await cluster.ExecuteAsync("CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY)");
        await using var host = HostProcess.HostProcess.Start(HostSettings.For(cluster.ConnectionString, _root, apiKey: Key));
        _http.BaseAddress = new Uri(await host.WaitListeningAsync(TimeSpan.FromSeconds(60)));
        await cluster.ExecuteAsync("INSERT INTO app.items VALUES (1)");
        await ScrapeUntilAsync(f => Value(f, "pgegress_ingest_changes_total") == 1 && f.ContainsKey("pgegress_slot_retained_wal_bytes"));

        await cluster.StopAsync(immediate: true);
        var families = await ScrapeUntilAsync(f => !f.ContainsKey("pgegress_slot_retained_wal_bytes"), maxScrape: TimeSpan.FromSeconds(2));
        Assert.False(families.ContainsKey("pgegress_consumer_lag_bytes"), "stale lag would look healthy");
        Assert.Equal(1, Value(families, "pgegress_ingest_changes_total"));

        await cluster.StartAsync();
        await ScrapeUntilAsync(f => f.ContainsKey("pgegress_slot_retained_wal_bytes") && f.ContainsKey("pgegress_consumer_lag_bytes"));
    }

    /// <summary>A database with app.items and a host running on it with one HTTP sink aimed at <paramref name="receiver"/>.</summary>
    private async Task<(NpgsqlDataSource Db, HostProcess.HostProcess Host)> StartWithSinkAsync(string database, string sink, LoopbackReceiver receiver,
        params (string Name, string Value)[] extra)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(database);
        var db = NpgsqlDataSource.Create(cs);
        await ExecAsync(db, "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, note text)");
        var settings = HostSettings.For(cs, _root, apiKey: Key);
        settings[$"PgEgress__Sinks__{sink}__Kind"] = "Http";
        settings[$"PgEgress__Sinks__{sink}__Url"] = receiver.Url + "/hook";
        settings[$"PgEgress__Sinks__{sink}__RetryDelay"] = "00:00:00.050";
        settings[$"PgEgress__Sinks__{sink}__MaxRetryDelay"] = "00:00:00.200";
        foreach (var (name, value) in extra) settings[name] = value;
        var host = HostProcess.HostProcess.Start(settings);
        try
        {
            _http.BaseAddress = new Uri(await host.WaitListeningAsync(TimeSpan.FromSeconds(60)));
        }
        catch
        {
            await host.DisposeAsync();
            await db.DisposeAsync();
            throw;
        }
        return (db, host);
    }

    private async Task<(HttpStatusCode Code, string LagDetail)> ReadyAsync()
    {
        using var ready = await SendAsync(HttpMethod.Get, "/api/ready");
        var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
        var lag = body.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "lag");
        return (ready.StatusCode, lag.GetProperty("detail").GetString()!);
    }

    /// <param name="maxScrape">How long one scrape may take at most.</param>
    private async Task<Dictionary<string, Family>> ScrapeUntilAsync(Func<Dictionary<string, Family>, bool> done, TimeSpan? maxScrape = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var response = await SendAsync(HttpMethod.Get, "/metrics");
            Assert.True(maxScrape is null || clock.Elapsed <= maxScrape, $"a scrape took {clock.Elapsed}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            var text = await response.Content.ReadAsStringAsync();
            var families = Parse(text);
            if (done(families)) return families;
            Assert.True(DateTime.UtcNow < deadline, $"/metrics never showed what the workload implies:\n{text}");
            await Task.Delay(250);
        }
    }

    /// <summary>The one sample of <paramref name="name"/> with these labels (others ignored); NaN when there is none.</summary>
    private static double Value(Dictionary<string, Family> families, string name, params (string Label, string Value)[] labels)
    {
        var samples = families.Values.SelectMany(f => f.Samples)
            .Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value)).ToList();
        return samples.Count switch { 0 => double.NaN, 1 => samples[0].Value, _ => throw new InvalidOperationException($"{samples.Count} samples of {name}") };
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("x-functions-key", Key);
        return await _http.SendAsync(request);
    }

    private static async Task ExecAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }
}
