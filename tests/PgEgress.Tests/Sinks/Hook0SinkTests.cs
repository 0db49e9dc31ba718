using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Health;
using PgEgress.Core.Output;
using PgEgress.Core.Sinks;
using PgEgress.Core.Staging;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// The Hook0 sink against a fake Hook0 on loopback that checks every request the way Hook0's ingestion API does
/// (POST /api/v1/event/, Bearer token, the EventPost body and its limits), keys events on their id (201 for a new one,
/// 409 EventAlreadyIngested for a repeat) and throws in a fixed pattern of 429 and 503 answers: every change arrives
/// once as a valid event, a replay from cursor 0/0 sends the same ids (all 409, counted delivered), and an event Hook0
/// rejects (400) goes to the dead-letter area while the others are delivered.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class Hook0SinkTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private const string Sink = "hook0";

    /// <summary>Longer than Hook0's 50-character label limit once qualified ("app." + 56 characters).</summary>
    private const string LongTable = "order_line_items_archived_from_the_legacy_billing_system";

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-hook0-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Changes <see cref="RunWorkloadAsync"/> makes, by Hook0 event type.</summary>
    private static readonly Dictionary<string, int> WorkloadEvents = new()
    {
        // 20 + the key-changing update's I (1 -> 100) + one in a multi-statement transaction.
        ["app.items.inserted"] = 22,
        ["app.items.updated"] = 11,
        // 16..20 + the key-changing update's D.
        ["app.items.deleted"] = 6,
        [$"app.{LongTable}.inserted"] = 10,
        [$"app.{LongTable}.updated"] = 5,
        [$"app.{LongTable}.deleted"] = 1,
        [$"app.{LongTable}.truncated"] = 1,
    };

    private static int WorkloadTotal => WorkloadEvents.Values.Sum();

    [Fact]
    public async Task Every_change_arrives_once_as_a_valid_Hook0_event_through_429s_and_503s()
    {
        var started = DateTime.UtcNow;
        await using var hook0 = await FakeHook0.StartAsync(faultyRequests: 40);
        var (db, options) = await SetUpAsync("sink_hook0", hook0);
        await using var closeDb = db;
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        await RunWorkloadAsync(db);
        await hook0.WaitIngestedAsync(WorkloadTotal, TimeSpan.FromMinutes(2));
        var sink = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, Sink);
        output.WriteLine($"{hook0.Requests} request(s): {hook0.Describe()}; status {sink}");

        Assert.Empty(hook0.Violations);
        Assert.Equal(WorkloadTotal, hook0.Ingested.Count);
        Assert.Equal(WorkloadEvents.OrderBy(e => e.Key), hook0.Ingested.Values.GroupBy(Change).Select(g => KeyValuePair.Create(g.Key, g.Count())).OrderBy(e => e.Key));
        // Once: no event was sent again after Hook0 had taken it.
        Assert.Empty(hook0.Conflicts);
        Assert.True(hook0.Count(429) > 0 && hook0.Count(503) > 0, "the fake never failed: " + hook0.Describe());

        // Each id is the name-based UUID of this pipeline's slot and the change's lsn-seq, as the payload states it.
        foreach (var e in hook0.Ingested.Values)
            Assert.Equal(Uuid5(Hook0Namespace, $"{options.Source.Slot}/{e.Payload.GetProperty("id").GetString()}"), e.EventId);

        // The long table's name as the event type's resource_type and in the table label: fitted to Hook0's 50, the short one whole.
        var longEvent = hook0.Ingested.Values.First(e => Change(e).StartsWith($"app.{LongTable}.", StringComparison.Ordinal));
        Assert.Equal($"app.{LongTable[..41]}~{Sha256Hex(LongTable)}.{longEvent.EventType.Split('.')[^1]}", longEvent.EventType);
        Assert.Equal($"app.{LongTable[..37]}~{Sha256Hex($"app.{LongTable}")}", longEvent.Labels["table"]);
        Assert.Equal("app.items", hook0.Ingested.Values.First(e => e.EventType == "app.items.inserted").Labels["table"]);

        // The payload is the change: the key-changing update as D of 1 then I of 100 in one transaction, consecutive seq.
        var moved = Assert.Single(hook0.Ingested.Values, e => e.EventType == "app.items.inserted" && Key(e) == 100);
        Assert.Equal("row 1", moved.Payload.GetProperty("record").GetProperty("note").GetString());
        Assert.Equal(1, moved.Payload.GetProperty("record").GetProperty("n").GetInt32());
        var transaction = hook0.Ingested.Values.Where(e => Lsn(e) == Lsn(moved)).OrderBy(Seq).ToList();
        Assert.Equal(["app.items.deleted", "app.items.inserted"], transaction.Select(e => e.EventType));
        Assert.Equal([1, 100], transaction.Select(Key));
        Assert.Equal(Seq(transaction[0]) + 1, Seq(transaction[1]));
        // The truncate carries no row.
        var truncate = Assert.Single(hook0.Ingested.Values, e => e.EventType.EndsWith(".truncated", StringComparison.Ordinal));
        Assert.False(truncate.Payload.TryGetProperty("record", out _));
        Assert.Equal("truncate", truncate.Labels["operation"]);
        var updated = Assert.Single(hook0.Ingested.Values, e => e.EventType == "app.items.updated" && Key(e) == 200);
        Assert.Equal(5, updated.Payload.GetProperty("record").GetProperty("n").GetInt32());
        // occurred_at is the commit time, in UTC.
        Assert.All(hook0.Ingested.Values, e => Assert.InRange(e.OccurredAt.UtcDateTime, started.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1)));

        Assert.Equal(0, sink.LagBytes);
        Assert.Equal(WorkloadTotal, sink.Delivered);
        // Every 429 and 503 was one retry.
        Assert.Equal(hook0.Count(429) + hook0.Count(503), sink.Retried);
        Assert.Equal(0, sink.DeadLettered);
        Assert.Empty(await ListAsync(pipeline, EventDelivery.DeadLetterPrefix(Sink)));
    }

    [Fact]
    public async Task A_replay_from_cursor_zero_sends_the_same_event_ids_which_Hook0_answers_409_and_the_sink_counts_delivered()
    {
        await using var hook0 = await FakeHook0.StartAsync(faultyRequests: 20);
        var (db, options) = await SetUpAsync("sink_hook0_replay", hook0);
        await using var closeDb = db;

        var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);
        try
        {
            await RunWorkloadAsync(db);
            await hook0.WaitIngestedAsync(WorkloadTotal, TimeSpan.FromMinutes(2));
            await WebhookSinkTests.WaitCaughtUpAsync(pipeline, Sink);
        }
        finally
        {
            await pipeline.DisposeAsync();
        }
        var first = hook0.Ingested.ToDictionary(e => e.Key, e => e.Value.Body);
        Assert.Equal(WorkloadTotal, first.Count);
        Assert.Empty(hook0.Conflicts);

        // No flush ran, so every staged segment is still there; the sink alone starts over.
        await using (var reset = db.CreateCommand($"UPDATE cdc_registry.cursors SET lsn = '0/0' WHERE consumer = '{SinkRunners.Consumer(Sink)}'"))
            Assert.Equal(1, await reset.ExecuteNonQueryAsync());

        await using var again = await InProcessPipeline.StartAsync(options, sinks: true);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (hook0.Conflicts.Count < WorkloadTotal)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{hook0.Conflicts.Count} of {WorkloadTotal} events sent again; {hook0.Describe()}");
            Assert.Empty(hook0.Violations);
            await Task.Delay(50);
        }
        var sink = await WebhookSinkTests.WaitCaughtUpAsync(again, Sink);
        output.WriteLine($"{hook0.Requests} request(s): {hook0.Describe()}; status {sink}");

        Assert.Empty(hook0.Violations);
        // The same ids, each answered 409 EventAlreadyIngested, with the same body as the first time; nothing new ingested.
        Assert.Equal(first.Keys.Order(), hook0.Conflicts.Keys.Order());
        Assert.Equal(first.Count, hook0.Ingested.Count);
        Assert.Empty(hook0.RepeatsWithAnotherBody);
        // The replaying process counts each 409 as delivered, dead-letters nothing, and catches up.
        Assert.Equal(WorkloadTotal, sink.Delivered);
        Assert.Equal(0, sink.DeadLettered);
        Assert.Equal(0, sink.LagBytes);
        Assert.Empty(await ListAsync(again, EventDelivery.DeadLetterPrefix(Sink)));
    }

    [Fact]
    public async Task An_event_Hook0_rejects_with_400_is_dead_lettered_and_the_others_are_delivered()
    {
        await using var hook0 = await FakeHook0.StartAsync(faultyRequests: 20,
            reject: payload => payload.TryGetProperty("record", out var r) && r.TryGetProperty("note", out var n) && n.GetString() == "poison");
        var (db, options) = await SetUpAsync("sink_hook0_reject", hook0);
        await using var closeDb = db;
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        await Exec(db, "INSERT INTO app.items SELECT g, 0, 'row ' || g FROM generate_series(1, 10) g");
        await Exec(db, "INSERT INTO app.items VALUES (666, 0, 'poison')");
        await Exec(db, "UPDATE app.items SET n = n + 1 WHERE id <= 5");
        await Exec(db, $"INSERT INTO app.{LongTable} VALUES (1, 'after the poison')");
        const int delivered = 10 + 5 + 1;

        await hook0.WaitIngestedAsync(delivered, TimeSpan.FromMinutes(2));
        var sink = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, Sink);
        output.WriteLine($"{hook0.Requests} request(s): {hook0.Describe()}; status {sink}");

        Assert.Empty(hook0.Violations);
        Assert.Equal(delivered, hook0.Ingested.Count);
        Assert.DoesNotContain(hook0.Ingested.Values, e => Key(e) == 666);
        // A 400 is tried MaxRetries times, then given up.
        Assert.Equal(options.Sinks[Sink].MaxRetries, hook0.Count(400));

        var letter = JsonDocument.Parse(await ReadAsync(pipeline, Assert.Single(await ListAsync(pipeline, EventDelivery.DeadLetterPrefix(Sink))))).RootElement;
        Assert.Equal(Sink, letter.GetProperty("sink").GetString());
        Assert.Equal(400, letter.GetProperty("status").GetInt32());
        Assert.Contains("poison", letter.GetProperty("response").GetString());
        var request = JsonDocument.Parse(letter.GetProperty("request").GetString()!).RootElement;
        Assert.Equal("app.items.inserted", request.GetProperty("event_type").GetString());
        var payload = JsonDocument.Parse(request.GetProperty("payload").GetString()!).RootElement;
        Assert.Equal(666, payload.GetProperty("key").GetProperty("id").GetInt32());
        Assert.Equal(payload.GetProperty("id").GetString(), Assert.Single(letter.GetProperty("events").EnumerateArray()).GetString());
        // The token travels in a header and never lands in the store.
        Assert.DoesNotContain(FakeHook0.Token, letter.GetRawText());

        Assert.Equal(1, sink.DeadLettered);
        Assert.Equal(delivered, sink.Delivered);
        Assert.Equal(0, sink.LagBytes);
    }

    /// <summary>Table names Hook0 cannot take as they are: 63 bytes, two sharing their first 56, and multi-byte characters.</summary>
    private static readonly string[] OddTables =
    [
        new string('x', 56) + "_alpha1",
        new string('x', 56) + "_beta22",
        // 31 characters in 62 bytes: a whole resource_type (Hook0 counts characters), a clipped label (it counts bytes).
        new string('ü', 31),
        "t" + string.Concat(Enumerable.Repeat("😀", 15)),
        new string('表', 21),
    ];

    [Fact]
    public async Task Tables_whose_names_exceed_Hook0s_limits_are_delivered_under_fitted_distinct_names()
    {
        Assert.All(OddTables, t => Assert.InRange(Encoding.UTF8.GetByteCount(t), 61, 63));
        await using var hook0 = await FakeHook0.StartAsync(faultyRequests: 0);
        var (db, options) = await SetUpAsync("sink_hook0_names", hook0);
        await using var closeDb = db;
        await Exec(db, string.Concat(OddTables.Select(t => $"CREATE TABLE app.\"{t}\" (id int PRIMARY KEY);")));
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        foreach (var t in OddTables) await Exec(db, $"INSERT INTO app.\"{t}\" VALUES (1), (2)");
        await hook0.WaitIngestedAsync(2 * OddTables.Length, TimeSpan.FromMinutes(1));
        var sink = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, Sink);
        output.WriteLine($"{hook0.Requests} request(s): {hook0.Describe()}; types {string.Join(", ", hook0.EventTypes.Keys)}");

        Assert.Empty(hook0.Violations);
        Assert.Equal(OddTables.Select(t => $"app.{t}.inserted").Order(), hook0.Ingested.Values.Select(Change).Distinct().Order());
        // One event type per table: the two sharing a long prefix do not meet.
        var types = hook0.Ingested.Values.GroupBy(Change).ToDictionary(g => g.Key, g => Assert.Single(g.Select(e => e.EventType).Distinct()));
        Assert.Equal(OddTables.Length, types.Values.Distinct().Count());
        Assert.Equal($"app.{new string('ü', 31)}.inserted", types[$"app.{new string('ü', 31)}.inserted"]);
        Assert.Equal(2 * OddTables.Length, sink.Delivered);
        Assert.Equal(0, sink.DeadLettered);
    }

    [Fact]
    public async Task An_event_type_Hook0_refuses_for_good_dead_letters_its_events_and_the_other_tables_flow()
    {
        await using var hook0 = await FakeHook0.StartAsync(faultyRequests: 0, refuseType: type => type.StartsWith("app.items.", StringComparison.Ordinal));
        var (db, options) = await SetUpAsync("sink_hook0_refused_type", hook0);
        await using var closeDb = db;
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);

        await Exec(db, "INSERT INTO app.items SELECT g, 0, 'row ' || g FROM generate_series(1, 3) g");
        await Exec(db, $"INSERT INTO app.{LongTable} VALUES (1, 'after the refused type'), (2, 'and another')");

        await hook0.WaitIngestedAsync(2, TimeSpan.FromMinutes(1));
        var sink = await WebhookSinkTests.WaitCaughtUpAsync(pipeline, Sink);
        output.WriteLine($"{hook0.Requests} request(s): {hook0.Describe()}; status {sink}");

        Assert.Empty(hook0.Violations);
        Assert.All(hook0.Ingested.Values, e => Assert.Equal($"app.{LongTable}.inserted", Change(e)));
        // Each of the three events: its type's creation refused MaxRetries times, then dead-lettered with Hook0's answer.
        Assert.Equal(3 * options.Sinks[Sink].MaxRetries, hook0.Count(422));
        var letters = await ListAsync(pipeline, EventDelivery.DeadLetterPrefix(Sink));
        Assert.Equal(3, letters.Count);
        foreach (var path in letters)
        {
            var letter = JsonDocument.Parse(await ReadAsync(pipeline, path)).RootElement;
            Assert.Equal(422, letter.GetProperty("status").GetInt32());
            Assert.Contains("app.items.inserted", letter.GetProperty("response").GetString());
        }
        Assert.Equal(3, sink.DeadLettered);
        Assert.Equal(2, sink.Delivered);
        Assert.Contains("app.items.inserted", sink.LastError);
        Assert.Equal(0, sink.LagBytes);
    }

    [Fact]
    public void EventId_is_a_version_5_uuid_of_the_slot_and_the_changes_position()
    {
        // The reference implementation below, checked against RFC 4122's best-known example (Python's docs).
        Assert.Equal(Guid.Parse("886313e1-3b8a-5372-9b90-0c9aee199e5d"), Uuid5(Guid.Parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "python.org"));

        var relation = new RelationSchema(16384, "app", "items", 'd', [new ColumnSchema("id", 23, -1, "integer", false, true)]);
        var other = new RelationSchema(16385, "app", "other", 'd', [new ColumnSchema("k", 25, -1, "text", false, true)]);
        SinkEvent Event(ulong endLsn, int seq, RelationSchema? rel = null, DateTime? commit = null, char op = 'I') =>
            new(new TransactionInfo(endLsn, endLsn - 8, 7, commit ?? new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)), seq,
                new ChangeRow(op, rel ?? relation, [new TupleValue(ValueKind.Text, "1"u8.ToArray())]));

        var lsn = 0x16_B374D848UL;
        var id = Hook0Endpoint.EventId("pgegress", Event(lsn, 3));
        var text = id.ToString();
        Assert.Equal('5', text[14]); // version 5: name-based, SHA-1
        Assert.Contains(text[19], "89ab"); // RFC 4122 variant
        // Exactly uuid5(namespace, "slot/lsn-seq"): pinned, because an id that changed between versions would make
        // Hook0 take a replay after an upgrade as new events.
        Assert.Equal(Uuid5(Hook0Namespace, "pgegress/16/B374D848-3"), id);

        // The same change has the same id whatever else differs; any other slot, position or sequence has another.
        Assert.Equal(id, Hook0Endpoint.EventId("pgegress", Event(lsn, 3, other, DateTime.UtcNow, 'D')));
        var others = new[]
        {
            Hook0Endpoint.EventId("pgegress_b", Event(lsn, 3)),
            Hook0Endpoint.EventId("pgegress", Event(lsn + 1, 3)),
            Hook0Endpoint.EventId("pgegress", Event(lsn, 4)),
            Hook0Endpoint.EventId("pgegress", Event(lsn, 30)),
            // "16/B374D848-3" must not meet "16/B374D84-83"-like neighbours: the separator keeps them apart.
            Hook0Endpoint.EventId("pgegress", Event(0x16_0B374D84UL, 83)),
        };
        Assert.DoesNotContain(id, others);
        Assert.Equal(others.Length, others.Distinct().Count());
    }

    [Fact]
    public async Task The_fake_Hook0_refuses_what_Hook0_refuses_and_keys_events_on_their_id()
    {
        await using var hook0 = await FakeHook0.StartAsync(faultyRequests: 0);
        using var http = new HttpClient { BaseAddress = new Uri(hook0.Url) };
        var id = Guid.NewGuid().ToString();
        var payload = JsonSerializer.Serialize(new { id = "0/16B3D48-1", op = "insert", schema = "app", table = "items", lsn = "0/16B3D48", seq = 1, commit_ts = "2026-01-01T00:00:00Z", key = new { id = 1 }, record = new { id = 1 } });
        Dictionary<string, object?> Body() => new()
        {
            ["application_id"] = FakeHook0.ApplicationId, ["event_id"] = id, ["event_type"] = "app.items.inserted", ["payload"] = payload,
            ["payload_content_type"] = "application/json", ["occurred_at"] = "2026-01-01T00:00:00.123456Z",
            ["labels"] = new Dictionary<string, string> { ["table"] = "app.items", ["operation"] = "insert" },
        };
        async Task<int> Post(Dictionary<string, object?> body, string path = "/api/v1/event/", string token = FakeHook0.Token, string type = "application/json")
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(type);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            return (int)response.StatusCode;
        }
        Dictionary<string, object?> With(string field, object? value)
        {
            var body = Body();
            if (value is null) body.Remove(field);
            else body[field] = value;
            return body;
        }

        var refused = new (string Why, Func<Task<int>> Send)[]
        {
            ("payload as a raw object", () => Post(With("payload", JsonDocument.Parse(payload).RootElement))),
            ("payload that is not JSON text", () => Post(With("payload", "{not json"))),
            ("no labels", () => Post(With("labels", null))),
            ("empty labels", () => Post(With("labels", new Dictionary<string, string>()))),
            ("11 labels", () => Post(With("labels", Enumerable.Range(0, 11).ToDictionary(i => $"k{i}", i => "v")))),
            ("a 51-character label", () => Post(With("labels", new Dictionary<string, string> { ["table"] = new('t', 51), ["operation"] = "insert" }))),
            ("a label of 26 characters in 52 bytes", () => Post(With("labels", new Dictionary<string, string> { ["table"] = new('é', 26), ["operation"] = "insert" }))),
            ("a 51-character resource_type", () => Post(new() { ["application_id"] = FakeHook0.ApplicationId, ["service"] = "app", ["resource_type"] = new string('t', 51), ["verb"] = "inserted" }, "/api/v1/event_types/")),
            ("a service with a control character", () => Post(new() { ["application_id"] = FakeHook0.ApplicationId, ["service"] = "a\u0001pp", ["resource_type"] = "items", ["verb"] = "inserted" }, "/api/v1/event_types/")),
            ("a label that is not a string", () => Post(With("labels", new Dictionary<string, object> { ["table"] = "app.items", ["operation"] = "insert", ["n"] = 1 }))),
            ("an unknown field", () => Post(With("label_key", "table"))),
            ("an event type of 201 characters", () => Post(With("event_type", new string('a', 201)))),
            ("an event type the payload contradicts", () => Post(With("event_type", "app.items.deleted"))),
            ("an event id that is no UUID", () => Post(With("event_id", "0/16B3D48-1"))),
            ("another application", () => Post(With("application_id", Guid.NewGuid().ToString()))),
            ("text/plain payload", () => Post(With("payload_content_type", "text/plain"))),
            ("occurred_at without a zone", () => Post(With("occurred_at", "2026-01-01T00:00:00"))),
            ("no occurred_at", () => Post(With("occurred_at", null))),
            ("metadata of non-strings", () => Post(With("metadata", new Dictionary<string, object> { ["a"] = 1 }))),
            ("the path without /api/v1", () => Post(Body(), "/event/")),
            ("another token", () => Post(Body(), token: "someone-else")),
            ("a form content type", () => Post(Body(), type: "application/x-www-form-urlencoded")),
        };
        foreach (var (why, send) in refused)
        {
            var before = hook0.Violations.Count;
            Assert.True(await send() == 422, $"{why}: not refused");
            Assert.True(hook0.Violations.Count > before, $"{why}: no violation recorded");
        }
        Assert.Empty(hook0.Ingested);

        // An event of a type the application does not have is refused until the type is created.
        Assert.Equal(400, await Post(Body()));
        hook0.Violations.Clear();
        Assert.Equal(201, await Post(new() { ["application_id"] = FakeHook0.ApplicationId, ["service"] = "app", ["resource_type"] = "items", ["verb"] = "inserted" }, "/api/v1/event_types/"));
        Assert.Equal(409, await Post(new() { ["application_id"] = FakeHook0.ApplicationId, ["service"] = "app", ["resource_type"] = "items", ["verb"] = "inserted" }, "/api/v1/event_types/"));
        Assert.Equal(201, await Post(With("metadata", new Dictionary<string, string> { ["source"] = "test" })));
        Assert.Equal(409, await Post(Body()));
        Assert.Single(hook0.Ingested);
        Assert.Equal(1, hook0.Conflicts[Guid.Parse(id)]);
        // Parts count characters: 50 of them in 100 bytes pass.
        Assert.Equal(201, await Post(new() { ["application_id"] = FakeHook0.ApplicationId, ["service"] = "app", ["resource_type"] = new string('é', 50), ["verb"] = "inserted" }, "/api/v1/event_types/"));
        Assert.Empty(hook0.Violations);
    }

    // --- set-up and helpers -------------------------------------------------------------------------------------

    /// <summary>Hook0Endpoint's namespace: a copy, so that a change to it (which would change every id) fails here.</summary>
    private static readonly Guid Hook0Namespace = new("5f0b6c8e-2d1a-4f3e-9b7c-0a1d2e3f4b5c");

    /// <summary>RFC 4122 §4.3, independently of the code under test.</summary>
    private static Guid Uuid5(Guid ns, string name)
    {
        var hash = SHA1.HashData([.. ns.ToByteArray(bigEndian: true), .. Encoding.UTF8.GetBytes(name)]);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    private async Task<(NpgsqlDataSource Db, PgEgressOptions Options)> SetUpAsync(string prefix, FakeHook0 hook0)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(prefix);
        var db = NpgsqlDataSource.Create(cs);
        await Exec(db, $"""
            CREATE SCHEMA app;
            CREATE TABLE app.items (id int PRIMARY KEY, n int NOT NULL, note text);
            CREATE TABLE app.{LongTable} (id int PRIMARY KEY, v text);
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, prefix, "out"));
        options.Sinks[Sink] = new SinkOptions
        {
            Kind = SinkKind.Hook0, Url = hook0.Url, Token = FakeHook0.Token, ApplicationId = FakeHook0.ApplicationId, Workers = 4,
            RetryDelay = TimeSpan.FromMilliseconds(10), MaxRetryDelay = TimeSpan.FromMilliseconds(100), MaxRetries = 2,
        };
        return (db, options);
    }

    /// <summary>Inserts, updates (one of them moving a key), deletes and a truncate over both tables: <see cref="WorkloadEvents"/>.</summary>
    private static async Task RunWorkloadAsync(NpgsqlDataSource db)
    {
        await Exec(db, "INSERT INTO app.items SELECT g, 0, 'row ' || g FROM generate_series(1, 20) g");
        await Exec(db, $"INSERT INTO app.{LongTable} SELECT g, 'v' || g FROM generate_series(1, 10) g");
        await Exec(db, "UPDATE app.items SET n = n + 1 WHERE id <= 10");
        await Exec(db, $"UPDATE app.{LongTable} SET v = v || '!' WHERE id <= 5");
        await Exec(db, "DELETE FROM app.items WHERE id > 15");
        await Exec(db, $"DELETE FROM app.{LongTable} WHERE id = 10");
        await Exec(db, "UPDATE app.items SET id = 100 WHERE id = 1");
        await Exec(db, $"TRUNCATE app.{LongTable}");
        await Exec(db, "BEGIN; INSERT INTO app.items VALUES (200, 0, 'in a transaction'); UPDATE app.items SET n = 5 WHERE id = 200; COMMIT");
    }

    /// <summary>The change an event carries, by its payload: schema.table.verb (the verb of its event type).</summary>
    private static string Change(FakeHook0.Event e) =>
        $"{e.Payload.GetProperty("schema").GetString()}.{e.Payload.GetProperty("table").GetString()}.{e.EventType.Split('.')[^1]}";

    /// <summary>The suffix a fitted name ends with: the first 8 hex digits of the SHA-256 of the name's UTF-8.</summary>
    internal static string Sha256Hex(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];

    private static int? Key(FakeHook0.Event e) =>
        e.Payload.TryGetProperty("key", out var key) && key.TryGetProperty("id", out var id) ? id.GetInt32() : null;

    private static string Lsn(FakeHook0.Event e) => e.Payload.GetProperty("lsn").GetString()!;

    private static int Seq(FakeHook0.Event e) => e.Payload.GetProperty("seq").GetInt32();

    private static Task Exec(NpgsqlDataSource db, string sql) => WebhookSinkTests.Exec(db, sql);

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
}

/// <summary>
/// Hook0's ingestion endpoint as its API defines it (hook0/hook0 api/src/handlers/events.rs, EventPost; problems.rs):
/// a request it would refuse is answered 422 and recorded as a violation; a valid event is 201 the first time its id is
/// seen and 409 EventAlreadyIngested after. Among the first <c>faultyRequests</c> requests, a fixed pattern answers 429
/// (Retry-After: 0) or 503 instead; <c>reject</c> picks events to answer 400.
/// </summary>
internal sealed partial class FakeHook0 : IAsyncDisposable
{
    public const string Token = "En0KE2NoZWNrIGlmIHRlc3QucGdlZ3Jlc3MYAyIKCggIChIECgICAA";
    public const string ApplicationId = "0b9f3a52-6a1e-4c1d-9d5e-2f7b8c4e1a90";

    private static readonly HashSet<string> EventPostFields =
        ["application_id", "event_id", "event_type", "payload", "payload_content_type", "metadata", "occurred_at", "labels"];

    private LoopbackReceiver _receiver = null!;
    private readonly int _faultyRequests;
    private readonly Func<JsonElement, bool>? _reject;
    private readonly Func<string, bool>? _refuseType;
    private readonly ConcurrentDictionary<int, int> _statuses = new();
    private int _requests;

    public sealed record Event(Guid EventId, string EventType, JsonElement Payload, DateTimeOffset OccurredAt, Dictionary<string, string> Labels, string Body);

    /// <summary>Ingested events by id, as first received.</summary>
    public ConcurrentDictionary<Guid, Event> Ingested { get; } = new();

    /// <summary>Ids answered 409, with how many times.</summary>
    public ConcurrentDictionary<Guid, int> Conflicts { get; } = new();

    /// <summary>Ids sent again with a body other than the first one.</summary>
    public ConcurrentBag<Guid> RepeatsWithAnotherBody { get; } = [];

    /// <summary>Event types created through POST /api/v1/event_types/: {service}.{resource_type}.{verb}, with those three parts.</summary>
    public ConcurrentDictionary<string, string[]> EventTypes { get; } = new(StringComparer.Ordinal);

    /// <summary>Requests Hook0 would have refused (422), with why.</summary>
    public ConcurrentBag<string> Violations { get; } = [];

    public string Url => _receiver.Url;
    public int Requests => Volatile.Read(ref _requests);
    public int Count(int status) => _statuses.GetValueOrDefault(status);
    public string Describe() => string.Join(", ", _statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} x{s.Value}"))
        + (Violations.IsEmpty ? "" : "; violations: " + string.Join(" | ", Violations.Take(5)));

    private FakeHook0(int faultyRequests, Func<JsonElement, bool>? reject, Func<string, bool>? refuseType) =>
        (_faultyRequests, _reject, _refuseType) = (faultyRequests, reject, refuseType);

    /// <param name="refuseType">Event types (service.resource_type.verb) to refuse with 422, as a Hook0 with stricter rules would.</param>
    public static async Task<FakeHook0> StartAsync(int faultyRequests, Func<JsonElement, bool>? reject = null, Func<string, bool>? refuseType = null)
    {
        var fake = new FakeHook0(faultyRequests, reject, refuseType);
        fake._receiver = await LoopbackReceiver.StartAsync(fake.HandleAsync);
        return fake;
    }

    public ValueTask DisposeAsync() => _receiver.DisposeAsync();

    /// <summary>Waits until <paramref name="count"/> distinct events are ingested; fails at once on a violation.</summary>
    public async Task WaitIngestedAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Ingested.Count < count)
        {
            Assert.True(Violations.IsEmpty, "Hook0 would refuse: " + string.Join(" | ", Violations.Take(5)));
            Assert.True(DateTime.UtcNow < deadline, $"{Ingested.Count} of {count} events ingested; {Describe()}");
            await Task.Delay(50);
        }
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        if (http.Request.Path.Value == "/api/v1/event_types/")
        {
            await CreateEventTypeAsync(http, body);
            return;
        }
        var n = Interlocked.Increment(ref _requests);

        var problems = new List<string>();
        var e = Validate(http.Request, body, problems);
        if (e is null)
        {
            foreach (var p in problems) Violations.Add($"request {n}: {p}");
            await AnswerAsync(http, 422, "Validation", "Provided input is malformed", string.Join("; ", problems));
            return;
        }
        // A fixed pattern: of every ten requests, the 3rd is rate limited and the 7th finds Hook0 unavailable.
        if (n <= _faultyRequests && n % 10 is 3 or 7)
        {
            if (n % 10 == 3)
            {
                http.Response.Headers.RetryAfter = "0";
                await AnswerAsync(http, 429, "RateLimited", "Rate limit exceeded", "slow down");
            }
            else await AnswerAsync(http, 503, "ServiceUnavailable", "Service temporarily unavailable", "try again");
            return;
        }
        // Hook0 ingests only events of a type the application has.
        if (!EventTypes.ContainsKey(e.EventType))
        {
            Violations.Add($"request {n}: event type {e.EventType} was never created");
            await AnswerAsync(http, 400, "EventTypeDoesNotExist", "This event type does not exist", e.EventType);
            return;
        }
        if (_reject?.Invoke(e.Payload) == true)
        {
            await AnswerAsync(http, 400, "EventInvalidJsonPayload", "Invalid event JSON payload", "the test refuses this one: poison");
            return;
        }
        if (Ingested.TryAdd(e.EventId, e))
        {
            Tally(201);
            http.Response.StatusCode = 201;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(JsonSerializer.Serialize(new { application_id = ApplicationId, event_id = e.EventId, received_at = DateTime.UtcNow }));
            return;
        }
        Conflicts.AddOrUpdate(e.EventId, 1, (_, c) => c + 1);
        if (Ingested[e.EventId].Body != body) RepeatsWithAnotherBody.Add(e.EventId);
        await AnswerAsync(http, 409, "EventAlreadyIngested", "Event already Ingested", "This event was previously ingested and recorded inside Hook0 service.");
    }

    /// <summary>
    /// POST /api/v1/event_types/ {application_id, service, resource_type, verb}: 201, or 409 when it exists. Hook0's
    /// EventTypePost: each part non_control_character and length(min = 1, max = 50), the validator crate counting
    /// characters (Unicode scalar values, Rust's chars), not bytes; no pattern beyond that.
    /// </summary>
    private async Task CreateEventTypeAsync(HttpContext http, string body)
    {
        var problems = new List<string>();
        if (http.Request.Method != "POST") problems.Add($"event_types: method {http.Request.Method}");
        if (http.Request.Headers.Authorization.ToString() != $"Bearer {Token}") problems.Add("event_types: wrong Authorization");
        string? name = null;
        string[] parts = [];
        try
        {
            var root = JsonDocument.Parse(body).RootElement;
            parts = new[] { "service", "resource_type", "verb" }.Select(f => root.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null).ToArray()!;
            if (!root.TryGetProperty("application_id", out var app) || app.GetString() != ApplicationId) problems.Add("event_types: wrong application_id");
            if (parts.Any(p => p is null)) problems.Add("event_types: service, resource_type and verb are required strings");
            else
            {
                foreach (var part in parts)
                {
                    var characters = part.EnumerateRunes().Count();
                    if (characters is < 1 or > 50) problems.Add($"event_types: '{part}' has {characters} characters, not 1 to 50");
                    if (part.EnumerateRunes().Any(Rune.IsControl)) problems.Add($"event_types: '{part}' has control characters");
                }
                name = string.Join('.', parts);
            }
        }
        catch (JsonException x)
        {
            problems.Add($"event_types: not JSON: {x.Message}");
        }
        if (problems.Count > 0 || name is null)
        {
            foreach (var p in problems) Violations.Add(p);
            await AnswerAsync(http, 422, "Validation", "Provided input is malformed", string.Join("; ", problems));
            return;
        }
        if (_refuseType?.Invoke(name) == true)
        {
            await AnswerAsync(http, 422, "Validation", "Provided input is malformed", $"the test refuses the event type {name}");
            return;
        }
        if (EventTypes.TryAdd(name, parts))
        {
            http.Response.StatusCode = 201;
            await http.Response.WriteAsync("{}");
        }
        else await AnswerAsync(http, 409, "EventTypeAlreadyExist", "This event type already exists", name);
    }

    private void Tally(int status) => _statuses.AddOrUpdate(status, 1, (_, c) => c + 1);

    private async Task AnswerAsync(HttpContext http, int status, string id, string title, string detail)
    {
        Tally(status);
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/problem+json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            type = $"https://hook0.com/documentation/errors/{id}", id, title, detail, status,
        }));
    }

    /// <summary>The event, or null with the reasons Hook0 would refuse the request.</summary>
    private static Event? Validate(HttpRequest request, string body, List<string> problems)
    {
        if (request.Method != "POST") problems.Add($"method {request.Method}, not POST");
        if (request.Path.Value != "/api/v1/event/" || request.QueryString.HasValue) problems.Add($"path {request.Path}{request.QueryString}, not /api/v1/event/");
        if (request.Headers.Authorization.ToString() != $"Bearer {Token}") problems.Add($"Authorization '{request.Headers.Authorization}', not 'Bearer <token>'");
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) || contentType.MediaType != "application/json")
            problems.Add($"Content-Type '{request.ContentType}', not application/json");

        JsonElement root;
        try
        {
            root = JsonDocument.Parse(body).RootElement;
        }
        catch (JsonException x)
        {
            problems.Add("body is not JSON: " + x.Message);
            return null;
        }
        if (root.ValueKind != JsonValueKind.Object)
        {
            problems.Add("body is not an object");
            return null;
        }
        var fields = root.EnumerateObject().Select(p => p.Name).ToList();
        foreach (var unknown in fields.Where(f => !EventPostFields.Contains(f))) problems.Add($"unknown field {unknown}");
        foreach (var twice in fields.GroupBy(f => f).Where(g => g.Count() > 1)) problems.Add($"field {twice.Key} given twice");

        string? Text(string name, int min, int max)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
            {
                problems.Add($"{name} is missing or not a string");
                return null;
            }
            var s = v.GetString()!;
            // The validator crate's length counts characters (Unicode scalar values).
            var characters = s.EnumerateRunes().Count();
            if (characters < min || characters > max) problems.Add($"{name} has {characters} characters, not {min} to {max}");
            if (s.Any(char.IsControl) && name != "payload") problems.Add($"{name} has control characters");
            return s;
        }

        if (Text("application_id", 1, 100) is { } app && app != ApplicationId) problems.Add($"application_id '{app}', not the configured '{ApplicationId}'");
        var eventId = Guid.Empty;
        if (Text("event_id", 1, 100) is { } eid && !(UuidPattern().IsMatch(eid) && Guid.TryParse(eid, out eventId))) problems.Add($"event_id '{eid}' is not a UUID");
        var eventType = Text("event_type", 1, 200);
        if (Text("payload_content_type", 1, 100) is { } pct && pct != "application/json") problems.Add($"payload_content_type '{pct}', not application/json");

        var occurredAt = DateTimeOffset.MinValue;
        if (Text("occurred_at", 1, 100) is { } at && !(Rfc3339Pattern().IsMatch(at) && DateTimeOffset.TryParse(at, out occurredAt)))
            problems.Add($"occurred_at '{at}' is not an RFC 3339 date-time");

        if (root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind != JsonValueKind.Null)
        {
            if (metadata.ValueKind != JsonValueKind.Object || metadata.EnumerateObject().Count() > 50) problems.Add("metadata is not an object of at most 50 entries");
            else CheckStringMap("metadata", metadata, problems);
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!root.TryGetProperty("labels", out var labelsElement) || labelsElement.ValueKind != JsonValueKind.Object)
            problems.Add("labels is missing or not an object");
        else
        {
            var count = labelsElement.EnumerateObject().Count();
            if (count is < 1 or > 10) problems.Add($"labels has {count} entries, not 1 to 10");
            CheckStringMap("labels", labelsElement, problems);
            foreach (var l in labelsElement.EnumerateObject().Where(l => l.Value.ValueKind == JsonValueKind.String)) labels[l.Name] = l.Value.GetString()!;
        }

        JsonElement payload = default;
        if (Text("payload", 0, 699_050) is { } raw)
        {
            try
            {
                payload = JsonDocument.Parse(raw).RootElement.Clone();
            }
            catch (JsonException x)
            {
                problems.Add("payload is not JSON text: " + x.Message);
            }
        }
        if (payload.ValueKind != JsonValueKind.Undefined) CheckPayload(payload, eventType, labels, problems);
        else if (problems.Count == 0) problems.Add("no payload");

        return problems.Count == 0 ? new Event(eventId, eventType!, payload, occurredAt, labels, body) : null;
    }

    /// <summary>Hook0's labels and metadata (validators.rs): string keys and string values of 1 to 50 bytes (Rust's str::len, UTF-8).</summary>
    private static void CheckStringMap(string name, JsonElement map, List<string> problems)
    {
        foreach (var entry in map.EnumerateObject())
        {
            if (Encoding.UTF8.GetByteCount(entry.Name) is < 1 or > 50) problems.Add($"{name} key '{entry.Name}' has {Encoding.UTF8.GetByteCount(entry.Name)} bytes, not 1 to 50");
            if (entry.Value.ValueKind != JsonValueKind.String) problems.Add($"{name} '{entry.Name}' is not a string");
            else if (Encoding.UTF8.GetByteCount(entry.Value.GetString()!) is < 1 or > 50)
                problems.Add($"{name} '{entry.Name}' value has {Encoding.UTF8.GetByteCount(entry.Value.GetString()!)} bytes, not 1 to 50");
        }
    }

    /// <summary>
    /// Not Hook0's check but this test's: the change inside is an object whose op, table and position agree with the event
    /// type and the labels, names fitted as PgEgress documents it (whole when they fit, else clipped on a character boundary
    /// with "~" and 8 hex digits of their SHA-256).
    /// </summary>
    private static void CheckPayload(JsonElement payload, string? eventType, Dictionary<string, string> labels, List<string> problems)
    {
        if (payload.ValueKind != JsonValueKind.Object)
        {
            problems.Add("payload is not a JSON object");
            return;
        }
        string? Field(string name) => payload.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var op = Field("op");
        var (schema, table, lsn, id) = (Field("schema"), Field("table"), Field("lsn"), Field("id"));
        var verb = op switch { "insert" => "inserted", "update" => "updated", "delete" => "deleted", "truncate" => "truncated", _ => null };
        if (verb is null) problems.Add($"payload op '{op}' is not insert, update, delete or truncate");
        if (schema is null || table is null) problems.Add("payload has no schema or table");
        else if (eventType != $"{Fitted(schema, inBytes: false)}.{Fitted(table, inBytes: false)}.{verb}") problems.Add($"event_type '{eventType}' does not match the payload's {schema}.{table} {op}");
        if (lsn is null || !LsnPattern().IsMatch(lsn)) problems.Add($"payload lsn '{lsn}' is not an LSN");
        if (!payload.TryGetProperty("seq", out var seq) || seq.ValueKind != JsonValueKind.Number || seq.GetInt32() < 1) problems.Add("payload seq is not a positive number");
        else if (id != $"{lsn}-{seq.GetInt32()}") problems.Add($"payload id '{id}' is not lsn-seq");
        if (!payload.TryGetProperty("commit_ts", out _)) problems.Add("payload has no commit_ts");
        if (op != "truncate")
            foreach (var part in new[] { "key", "record" })
                if (!payload.TryGetProperty(part, out var v) || v.ValueKind != JsonValueKind.Object) problems.Add($"payload {part} is not an object");

        // The label names the table as the registry does: each part as PostgreSQL's quote_ident prints it (no test name is a keyword).
        static string Quote(string part) => System.Text.RegularExpressions.Regex.IsMatch(part, "^[a-z_][a-z0-9_]*$") ? part : $"\"{part.Replace("\"", "\"\"")}\"";
        var qualified = $"{Quote(schema!)}.{Quote(table!)}";
        if (!labels.TryGetValue("table", out var label) || label != Fitted(qualified, inBytes: true))
            problems.Add($"label table '{label}' is not '{qualified}' fitted to 50 bytes");
        if (!labels.TryGetValue("operation", out var operation) || operation != op) problems.Add($"label operation '{operation}' is not '{op}'");
    }

    [GeneratedRegex(@"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\z")]
    private static partial Regex UuidPattern();

    /// <summary>A name as PgEgress fits it into 50 characters (a part: no '.' or control characters either) or 50 bytes (a label).</summary>
    private static string Fitted(string name, bool inBytes)
    {
        var fits = inBytes ? Encoding.UTF8.GetByteCount(name) <= 50 : name.EnumerateRunes().Count() <= 50 && !name.Contains('.') && !name.Any(char.IsControl);
        if (fits) return name;
        var kept = "";
        foreach (var rune in name.EnumerateRunes())
        {
            var next = kept + (inBytes || !(rune.Value == '.' || Rune.IsControl(rune)) ? rune.ToString() : "_");
            if ((inBytes ? Encoding.UTF8.GetByteCount(next) : next.EnumerateRunes().Count()) > 41) break;
            kept = next;
        }
        return kept + "~" + Hook0SinkTests.Sha256Hex(name);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\z")]
    private static partial Regex Rfc3339Pattern();

    [GeneratedRegex(@"^[0-9A-F]{1,8}/[0-9A-F]{1,8}\z")]
    private static partial Regex LsnPattern();
}
