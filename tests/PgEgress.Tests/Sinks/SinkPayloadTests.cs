using System.Net;
using System.Text;
using System.Text.Json;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Sinks;

/// <summary>What a receiver gets in a change's JSON, and what each HTTP status means for delivery.</summary>
public sealed class SinkPayloadTests
{
    private static readonly RelationSchema Table = new(1, "app", "t", 'd',
    [
        new ColumnSchema("id", 20, -1, "bigint", false, true),
        new ColumnSchema("ok", 16, -1, "boolean", true, false),
        new ColumnSchema("amount", 1700, -1, "numeric", true, false),
        new ColumnSchema("doc", 3802, -1, "jsonb", true, false),
        new ColumnSchema("note", 25, -1, "text", true, false),
        new ColumnSchema("big", 25, -1, "text", true, false),
    ]);

    private static TupleValue T(string s) => new(ValueKind.Text, Encoding.UTF8.GetBytes(s));

    [Fact]
    public void A_change_carries_numbers_booleans_and_json_as_json_values_and_names_unchanged_toast()
    {
        var txn = new TransactionInfo(0x16B3748, 0x16B3700, 777, new DateTime(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc));
        var row = new ChangeRow('U', Table, [T("42"), T("t"), T("NaN"), T("{\"a\": [1, 2]}"), TupleValue.Null, TupleValue.Unchanged]);
        var json = JsonDocument.Parse(ChangeJson.Serialize(new SinkEvent(txn, 3, row), "pipe")).RootElement;

        Assert.Equal("0/16B3748-3", json.GetProperty("id").GetString());
        Assert.Equal("update", json.GetProperty("op").GetString());
        Assert.Equal(42, json.GetProperty("key").GetProperty("id").GetInt64());
        var record = json.GetProperty("record");
        Assert.True(record.GetProperty("ok").GetBoolean());
        Assert.Equal("NaN", record.GetProperty("amount").GetString()); // not a JSON number
        Assert.Equal(2, record.GetProperty("doc").GetProperty("a")[1].GetInt32());
        Assert.Equal(JsonValueKind.Null, record.GetProperty("note").ValueKind);
        Assert.False(record.TryGetProperty("big", out _));
        Assert.Equal(["big"], json.GetProperty("unchanged_toast").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("app.t.updated", new SinkEvent(txn, 3, row).EventType);
    }

    /// <summary>
    /// Format Xml puts the CloudEvents attributes in ce-* headers; a quoted table name may hold spaces, quotes, '%' and
    /// any UTF-8. The headers must be ASCII that HttpClient sends, and percent-decoding them (Uri.UnescapeDataString, not
    /// the product's code) gives the attributes back.
    /// </summary>
    [Fact]
    public async Task Xml_events_carry_their_attributes_in_percent_encoded_ce_headers_and_the_change_as_the_body()
    {
        var table = new RelationSchema(2, "app", "Größe \"50%\"", 'd', [new ColumnSchema("id", 20, -1, "bigint", false, true)]);
        var txn = new TransactionInfo(0x16B3748, 0x16B3700, 777, new DateTime(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc));
        var e = new SinkEvent(txn, 3, new ChangeRow('I', table, [T("42")]));
        var endpoint = new CloudEventsEndpoint("pipe", new SinkOptions { Kind = SinkKind.Http, Url = "http://127.0.0.1:1/", Format = SinkFormat.Xml }, TimeProvider.System);

        using var request = endpoint.Build([e]);
        string Header(string name) => Assert.Single(request.Headers.GetValues(name));

        Assert.Equal("application/xml", request.Content!.Headers.ContentType!.MediaType);
        Assert.All(new[] { "ce-id", "ce-type", "ce-subject", "ce-source", "ce-time" },
            h => Assert.True(Header(h).All(c => c is > ' ' and < (char)0x7F), $"{h}: {Header(h)}"));
        Assert.Equal("app.\"Größe \"\"50%\"\"\"", Uri.UnescapeDataString(Header("ce-subject")));
        Assert.Equal("app.\"Größe \"\"50%\"\"\".inserted", Uri.UnescapeDataString(Header("ce-type")));
        Assert.Equal("0/16B3748-3", Header("ce-id"));
        Assert.Equal("1.0", Header("ce-specversion"));
        var body = System.Xml.Linq.XDocument.Parse(await request.Content.ReadAsStringAsync());
        Assert.Equal("42", body.Root!.Element(System.Xml.Linq.XName.Get("key", "urn:pgegress:change:1"))!.Value);
    }

    [Theory]
    [InlineData(200, DeliveryOutcome.Delivered)]
    [InlineData(204, DeliveryOutcome.Delivered)]
    [InlineData(400, DeliveryOutcome.Reject)]
    [InlineData(422, DeliveryOutcome.Reject)]
    [InlineData(401, DeliveryOutcome.Retry)]
    [InlineData(403, DeliveryOutcome.Retry)]
    [InlineData(404, DeliveryOutcome.Retry)]
    [InlineData(408, DeliveryOutcome.Retry)]
    [InlineData(429, DeliveryOutcome.Retry)]
    [InlineData(503, DeliveryOutcome.Retry)]
    public void A_wrong_key_or_url_is_retried_not_dead_lettered(int status, DeliveryOutcome outcome)
    {
        var webhook = new CloudEventsEndpoint("pipe", new SinkOptions { Kind = SinkKind.Http, Url = "http://127.0.0.1:1/" }, TimeProvider.System);
        var hook0 = new Hook0Endpoint("pipe", new SinkOptions { Kind = SinkKind.Hook0, Url = "http://127.0.0.1:1", ApplicationId = Guid.NewGuid().ToString() });
        Assert.Equal(outcome, webhook.Classify((HttpStatusCode)status));
        Assert.Equal(outcome, hook0.Classify((HttpStatusCode)status));
        Assert.Equal(DeliveryOutcome.Delivered, hook0.Classify(HttpStatusCode.Conflict)); // Hook0: already ingested
        Assert.Equal(DeliveryOutcome.Reject, webhook.Classify(HttpStatusCode.Conflict));
    }

    [Fact]
    public void An_update_filter_keeps_both_halves_of_a_key_changing_update()
    {
        var filter = new SinkFilter(new SinkOptions { Operations = ["update"] });
        Assert.True(filter.Accepts(new ChangeRow('U', Table, null)));
        Assert.True(filter.Accepts(new ChangeRow('D', Table, null, KeyChange: true)));
        Assert.True(filter.Accepts(new ChangeRow('I', Table, null, KeyChange: true)));
        Assert.False(filter.Accepts(new ChangeRow('D', Table, null)));
        Assert.False(new SinkFilter(new SinkOptions { Operations = ["insert"] }).Accepts(new ChangeRow('I', Table, null, KeyChange: true)));
    }

    [Fact]
    public async Task The_cursor_passes_a_transaction_only_when_all_its_events_and_all_before_are_delivered()
    {
        var tracker = new CursorTracker(new SinkCursor(100, []));
        var a = tracker.Begin(200, DateTime.UtcNow);
        tracker.Add(a);
        tracker.Add(a);
        tracker.Seal(a);
        var b = tracker.Begin(300, DateTime.UtcNow);
        tracker.Add(b);
        tracker.Seal(b);
        var idle = tracker.WhenIdleAsync(default);

        tracker.Done(b, 1);
        Assert.Equal(100UL, tracker.Delivered); // b is done, a is not
        tracker.Done(a, 2);
        Assert.False(idle.IsCompleted);
        Assert.Equal(100UL, tracker.Delivered);
        tracker.Done(a, 1);
        Assert.Equal(300UL, tracker.Delivered);
        await idle.WaitAsync(TimeSpan.FromSeconds(5)); // a TRUNCATE waits for exactly this
    }

    [Fact]
    public void A_cursor_written_mid_transaction_gives_a_new_tracker_exactly_the_events_already_finished()
    {
        // Seqs finished out of order, as 8 workers finish them, plus one the filter skipped; the oracle is a plain set.
        var random = new Random(7);
        var finished = Enumerable.Range(1, 3_000).Where(seq => seq <= 1_000 || random.Next(3) == 0).ToHashSet();
        var first = new CursorTracker(new SinkCursor(100, []));
        var big = first.Begin(200, DateTime.UtcNow);
        var later = first.Begin(300, DateTime.UtcNow);
        foreach (var seq in finished.OrderBy(_ => random.Next()))
        {
            if (seq == 1_500) first.Skip(big, seq);
            else
            {
                first.Add(big);
                first.Done(big, seq);
            }
        }
        first.Add(later);
        first.Done(later, 2);
        var written = first.Snapshot();
        Assert.Equal(100UL, written.Lsn);
        Assert.Equal(1_000, written.Partial.Single(p => p.EndLsn == 200).Through);

        // Through the registry's JSON, as a restarted process reads it.
        var read = JsonSerializer.Deserialize<List<PartialTransaction>>(JsonSerializer.Serialize(written.Partial))!;
        var next = new CursorTracker(new SinkCursor(written.Lsn, read));
        var resumed = next.Begin(200, DateTime.UtcNow);
        Assert.Equal(finished, Enumerable.Range(1, 3_100).Where(seq => next.IsFinished(resumed, seq)).ToHashSet());
        // A slice that ends before it reaches the later transaction still writes down what was finished of it.
        Assert.Equal(written.Partial.Single(p => p.EndLsn == 300).After, next.Snapshot().Partial.Single(p => p.EndLsn == 300).After);
        var resumedLater = next.Begin(300, DateTime.UtcNow);
        Assert.Equal([2], Enumerable.Range(1, 10).Where(seq => next.IsFinished(resumedLater, seq)));

        foreach (var seq in Enumerable.Range(1, 3_000).Where(seq => !finished.Contains(seq)))
        {
            next.Add(resumed);
            next.Done(resumed, seq);
        }
        next.Seal(resumed);
        Assert.Equal(200UL, next.Delivered);
        Assert.DoesNotContain(next.Snapshot().Partial, p => p.EndLsn == 200);
    }
}
