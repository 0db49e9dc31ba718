using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Npgsql;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Sinks;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// The webhook sink against a real receiver on loopback that fails about 30 % of requests (500, 429, answers slower
/// than the sink's timeout after taking the events): every event arrives at least once, a repeat always carries the
/// same id and body, each row's changes arrive in commit order, every request is correctly signed, and a rejected
/// event (400) goes to the dead-letter area while delivery goes on.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class WebhookSinkTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-webhook-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private sealed record Received(string Id, int Key, string Op, string Lsn, int Seq, int? N, string Body);

    [Fact]
    public async Task Every_event_arrives_in_order_per_row_despite_a_flaky_receiver_and_a_rejected_one_is_dead_lettered()
    {
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        // The receiver checks signatures as a Standard Webhooks consumer does: with the specification's library.
        var verifier = new StandardWebhook(secret);
        var first = new ConcurrentQueue<Received>();
        var seen = new ConcurrentDictionary<string, string>();
        var repeatsWithOtherBody = new ConcurrentBag<string>();
        var badSignatures = new ConcurrentBag<string>();
        var requests = 0;
        var outcomes = new ConcurrentDictionary<string, int>();
        var timeout = TimeSpan.FromMilliseconds(400);

        await using var receiver = await LoopbackReceiver.StartAsync(async http =>
        {
            var n = Interlocked.Increment(ref requests);
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            try
            {
                verifier.Verify(body, http.Request.Headers);
            }
            catch (WebhookVerificationException e)
            {
                badSignatures.Add($"{http.Request.Headers["webhook-id"]}: {e.Message}");
            }

            var events = http.Request.ContentType!.StartsWith("application/cloudevents-batch+json", StringComparison.Ordinal)
                ? JsonDocument.Parse(body).RootElement.EnumerateArray().ToList()
                : [JsonDocument.Parse(body).RootElement];
            if (events.Any(e => e.GetProperty("data").GetProperty("record").TryGetProperty("note", out var note) && note.GetString() == "poison"))
            {
                outcomes.AddOrUpdate("400", 1, (_, c) => c + 1);
                http.Response.StatusCode = 400;
                await http.Response.WriteAsync("{\"error\":\"poison\"}");
                return;
            }
            // A fixed pseudo-random pattern over the request number: 15 % 500, 10 % 429, 5 % taken but answered too late.
            var roll = (int)((uint)(n * 2654435761) % 100);
            if (roll < 15 || (roll < 25 && n % 2 == 0))
            {
                outcomes.AddOrUpdate(roll < 15 ? "500" : "429", 1, (_, c) => c + 1);
                if (roll >= 15) http.Response.Headers.RetryAfter = "0";
                http.Response.StatusCode = roll < 15 ? 500 : 429;
                return;
            }
            foreach (var e in events)
            {
                var eid = e.GetProperty("id").GetString()!;
                var raw = e.GetRawText();
                if (!seen.TryAdd(eid, raw))
                {
                    if (seen[eid] != raw) repeatsWithOtherBody.Add(eid);
                    continue;
                }
                var data = e.GetProperty("data");
                var record = data.GetProperty("record");
                first.Enqueue(new Received(eid, data.GetProperty("key").GetProperty("id").GetInt32(), data.GetProperty("op").GetString()!,
                    data.GetProperty("lsn").GetString()!, data.GetProperty("seq").GetInt32(),
                    record.TryGetProperty("n", out var nv) && nv.ValueKind == JsonValueKind.Number ? nv.GetInt32() : null, raw));
            }
            if (roll >= 25 && roll < 30)
            {
                outcomes.AddOrUpdate("late", 1, (_, c) => c + 1);
                await Task.Delay(timeout * 3); // the sink has given up on this answer and sends the batch again
            }
            http.Response.StatusCode = 204;
        });

        var cs = await pg.CreateUniqueDatabaseAsync("sink_webhook");
        await using var db = NpgsqlDataSource.Create(cs);
        await Exec(db, "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, n int NOT NULL, note text); CREATE TABLE app.other (id int PRIMARY KEY)");
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Sinks["hooks"] = new SinkOptions
        {
            Kind = SinkKind.Http, Url = receiver.Url + "/events", Secret = secret, Workers = 4, BatchMaxEvents = 5,
            BatchMaxWait = TimeSpan.FromMilliseconds(20), Timeout = timeout, RetryDelay = TimeSpan.FromMilliseconds(20),
            MaxRetryDelay = TimeSpan.FromMilliseconds(200), MaxRetries = 2, Tables = ["app.items"],
        };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        for (var t = 0; t < 30; t++)
            await Exec(db, $"INSERT INTO app.items SELECT g, 0, 'row ' || g FROM generate_series({t * 10 + 1}, {t * 10 + 10}) g; INSERT INTO app.other VALUES ({t})");
        await Exec(db, "INSERT INTO app.items VALUES (1000, 0, 'poison')");
        for (var round = 1; round <= 3; round++)
            for (var t = 0; t < 10; t++)
                await Exec(db, $"UPDATE app.items SET n = n + 1 WHERE id BETWEEN {t * 30 + 1} AND {t * 30 + 30}");
        await Exec(db, "DELETE FROM app.items WHERE id % 6 = 0");
        const int expected = 300 + 900 + 50;

        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (first.Count < expected || !DeadLettered(pipeline))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{first.Count} of {expected} events arrived; dead letter: {DeadLettered(pipeline)}; outcomes: {string.Join(", ", outcomes)}");
            await Task.Delay(50);
        }
        output.WriteLine($"{requests} request(s): {string.Join(", ", outcomes.Select(o => $"{o.Key} x{o.Value}"))}; {first.Count} distinct event(s)");

        Assert.Equal(expected, first.Count);
        Assert.Empty(repeatsWithOtherBody);
        Assert.Empty(badSignatures);
        Assert.True(outcomes.GetValueOrDefault("500") > 0 && outcomes.GetValueOrDefault("429") > 0 && outcomes.GetValueOrDefault("late") > 0,
            "the receiver never failed one of the ways: " + string.Join(", ", outcomes));
        foreach (var row in first.GroupBy(r => r.Key))
        {
            var order = row.Select(r => (Lsn: Core.Output.PgText.ParseLsn(r.Lsn), r.Seq)).ToList();
            Assert.True(order.SequenceEqual(order.Order()), $"row {row.Key}: events out of commit order: {string.Join(" ", row.Select(r => r.Id))}");
            var ops = row.Select(r => r.Op).ToList();
            Assert.Equal("insert", ops[0]);
            if (row.Key % 6 == 0) Assert.Equal("delete", ops[^1]);
            else Assert.Equal(3, row.Last().N);
        }
        Assert.DoesNotContain(first, r => r.Key == 1000);

        var letters = await ListAsync(pipeline, EventDelivery.DeadLetterPrefix("hooks"));
        var letter = JsonDocument.Parse(await ReadAsync(pipeline, Assert.Single(letters))).RootElement;
        Assert.Equal(400, letter.GetProperty("status").GetInt32());
        Assert.Contains("poison", letter.GetProperty("response").GetString());

        // Caught up: the cursor reaches the staged log, and the status says what happened.
        var sink = await WaitCaughtUpAsync(pipeline, "hooks");
        Assert.Equal(1, sink.DeadLettered);
        Assert.True(sink.Retried > 0);
        Assert.True(sink.Delivered >= expected);
    }

    internal static async Task<SinkStatus> WaitCaughtUpAsync(InProcessPipeline pipeline, string sink)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            var status = (await pipeline.Get<StatusReader>().ReadAsync(default)).Sinks.Single(s => s.Name == sink);
            if (status.LagBytes == 0 && status.LagSeconds == 0) return status;
            Assert.True(DateTime.UtcNow < deadline, $"sink {sink} not caught up: {status}");
            await Task.Delay(50);
        }
    }

    private static bool DeadLettered(InProcessPipeline pipeline) =>
        ListAsync(pipeline, EventDelivery.DeadLetterPrefix("hooks")).GetAwaiter().GetResult().Count > 0;

    private static async Task<List<string>> ListAsync(InProcessPipeline pipeline, string prefix)
    {
        var list = new List<string>();
        await foreach (var path in pipeline.Store.ListAsync(prefix, default)) list.Add(path);
        return list;
    }

    private static async Task<string> ReadAsync(InProcessPipeline pipeline, string path)
    {
        await using var stream = (await pipeline.Store.OpenReadAsync(path, default))!;
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    internal static async Task Exec(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }
}
