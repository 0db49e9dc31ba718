using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Microsoft.AspNetCore.Http;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Sinks;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// Format Xml: two Http sinks, one JSON and one XML, deliver the same workload (every value the suite finds tricky: CR
/// LF, quotes, NULL and '', control characters, bytea, arrays, json, unchanged TOAST) to one receiver. It reads the XML
/// with .NET's standard parser (XDocument, a conforming XML 1.0 processor with its end-of-line and attribute
/// normalisation) and the JSON with System.Text.Json, and each event must give the same values both ways.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class XmlPayloadTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private static readonly XNamespace Change = "urn:pgegress:change:1";
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-xml-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A column's value as both forms can state it: null, or text (bytea as the bytes in hex, booleans as t/f).</summary>
    private sealed record Value(string? Text);

    [Fact]
    public async Task Every_event_read_with_a_standard_xml_parser_carries_the_same_values_as_its_json_form()
    {
        var json = new ConcurrentDictionary<string, Dictionary<string, Value>>();
        var xml = new ConcurrentDictionary<string, Dictionary<string, Value>>();
        var xmlMeta = new ConcurrentBag<string>();
        await using var receiver = await LoopbackReceiver.StartAsync(async http =>
        {
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            if (http.Request.Path == "/xml")
            {
                if (http.Request.ContentType?.StartsWith("application/xml", StringComparison.Ordinal) != true) xmlMeta.Add($"content type {http.Request.ContentType}");
                var doc = XDocument.Parse(body);
                var changes = doc.Root!.Name == Change + "changes" ? doc.Root.Elements(Change + "change").ToList() : [doc.Root];
                if (changes.Count == 1 && http.Request.Headers["ce-id"] != changes[0].Element(Change + "id")!.Value) xmlMeta.Add("ce-id header differs from the body's id");
                foreach (var c in changes) xml[c.Element(Change + "id")!.Value] = FromXml(c);
            }
            else
            {
                var root = JsonDocument.Parse(body).RootElement;
                foreach (var e in root.ValueKind == JsonValueKind.Array ? root.EnumerateArray().ToList() : [root])
                    json[e.GetProperty("id").GetString()!] = FromJson(e.GetProperty("data"));
            }
            http.Response.StatusCode = 204;
        });

        var cs = await pg.CreateUniqueDatabaseAsync("sink_xml");
        await using var db = NpgsqlDataSource.Create(cs);
        await WebhookSinkTests.Exec(db, Workload.Schema);
        await WebhookSinkTests.Exec(db, """
            CREATE TABLE app.controls (id int PRIMARY KEY, t text, raw bytea);
            """);
        var options = InProcessPipeline.DefaultOptions(cs, Path.Combine(_root, "out"));
        options.Sinks["json"] = new SinkOptions { Kind = SinkKind.Http, Url = receiver.Url + "/json", BatchMaxEvents = 7 };
        // EventFormat: the seeds' name for Format.
        options.Sinks["xml"] = new SinkOptions { Kind = SinkKind.Http, Url = receiver.Url + "/xml", EventFormat = SinkFormat.Xml, BatchMaxEvents = 7 };
        await using var pipeline = await InProcessPipeline.StartAsync(options, sinks: true);
        await Workload.RunAsync(db);
        await WebhookSinkTests.Exec(db, """
            INSERT INTO app.controls VALUES (1, E'bell \x07 and vertical tab \x0b', '\x0007ff'), (2, '', ''), (3, NULL, NULL);
            INSERT INTO app.controls VALUES (4, E'cr\r, lf\n, crlf\r\n, tab\t, quote " apostrophe '' lt < amp &', '\x');
            UPDATE app.controls SET t = E'esc \x1b' WHERE id = 2;
            DELETE FROM app.controls WHERE id = 3;
            """);
        await pipeline.FlushAsync();
        // Both sinks are done once their cursors are at the staged end: every event was acknowledged by the receiver.
        var registry = pipeline.Get<RegistryStore>();
        var staged = await registry.GetStagedLsnAsync(options.Source.Slot, default);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        foreach (var sink in new[] { "json", "xml" })
            while (((await registry.GetCursorAsync(options.Source.Slot, SinkRunners.Consumer(sink), default))?.Lsn ?? 0) < staged)
            {
                Assert.True(DateTime.UtcNow < deadline, $"sink {sink} did not deliver up to {staged:X}: json {json.Count} event(s), xml {xml.Count}");
                await Task.Delay(50);
            }
        output.WriteLine($"{json.Count} event(s) in each form");

        Assert.Empty(xmlMeta);
        Assert.Equal(json.Keys.Order(), xml.Keys.Order());
        var differences = new List<string>();
        foreach (var (id, values) in json)
            foreach (var (column, value) in values)
                if (!xml[id].TryGetValue(column, out var x) || x != value)
                    differences.Add($"{id} {column}: json {value.Text ?? "NULL"} xml {(x is null ? "(missing)" : x.Text ?? "NULL")}");
        Assert.True(differences.Count == 0, string.Join("\n", differences.Take(20)));
        // The awkward values did come through (so the comparison compared something).
        Assert.Contains(xml.Values, v => v.TryGetValue("record.t", out var t) && t.Text == "cr\r, lf\n, crlf\r\n, tab\t, quote \" apostrophe ' lt < amp &");
        Assert.Contains(xml.Values, v => v.TryGetValue("record.t", out var t) && t.Text == "bell \u0007 and vertical tab \u000b");
        Assert.Contains(xml.Values, v => v.TryGetValue("record.raw", out var r) && r.Text == "0007ff");
        Assert.Contains(xml.Values, v => v.TryGetValue("record.t", out var t) && t.Text == "");
        Assert.Contains(xml.Values, v => v.TryGetValue("record.t", out var t) && t.Text is null);
    }

    private static Dictionary<string, Value> FromJson(JsonElement data)
    {
        var values = new Dictionary<string, Value>
        {
            ["op"] = new(data.GetProperty("op").GetString()), ["table"] = new(data.GetProperty("table").GetString()),
            ["lsn"] = new(data.GetProperty("lsn").GetString()), ["seq"] = new(data.GetProperty("seq").GetRawText()),
            ["unchanged_toast"] = new(data.TryGetProperty("unchanged_toast", out var u) ? string.Join(",", u.EnumerateArray().Select(c => c.GetString())) : ""),
        };
        foreach (var part in new[] { "key", "record" })
            if (data.TryGetProperty(part, out var columns))
                foreach (var c in columns.EnumerateObject())
                    values[$"{part}.{c.Name}"] = new(c.Value.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.True => "t",
                        JsonValueKind.False => "f",
                        JsonValueKind.String when c.Value.GetString()!.StartsWith("\\x", StringComparison.Ordinal) && c.Name == "raw" => c.Value.GetString()![2..],
                        JsonValueKind.String => c.Value.GetString(),
                        // Numbers and json as PostgreSQL wrote them: compared as parsed JSON, not as text.
                        _ => Canonical(c.Value.GetRawText()),
                    });
        return values;
    }

    private static Dictionary<string, Value> FromXml(XElement change)
    {
        var values = new Dictionary<string, Value>
        {
            ["op"] = new(change.Element(Change + "op")!.Value), ["table"] = new(change.Element(Change + "table")!.Value),
            ["lsn"] = new(change.Element(Change + "lsn")!.Value), ["seq"] = new(change.Element(Change + "seq")!.Value),
            ["unchanged_toast"] = new(string.Join(",", change.Element(Change + "unchanged_toast")?.Elements(Change + "column").Select(c => c.Attribute("name")!.Value) ?? [])),
        };
        foreach (var part in new[] { "key", "record" })
            foreach (var c in change.Element(Change + part)?.Elements(Change + "column") ?? [])
            {
                var name = c.Attribute("name")!.Value;
                var type = c.Attribute("type")!.Value;
                string? text = c.Attribute("null")?.Value == "true" ? null
                    : c.Attribute("encoding")?.Value == "base64"
                        ? type == "bytea" ? Convert.ToHexStringLower(Convert.FromBase64String(c.Value)) : Encoding.UTF8.GetString(Convert.FromBase64String(c.Value))
                    : type == "boolean" ? XmlConvert.ToBoolean(c.Value) ? "t" : "f"
                    : c.Value;
                values[$"{part}.{name}"] = new(text is not null && type is "json" or "jsonb" or "integer" or "bigint" or "smallint" or "numeric" or "real" or "double precision" && LooksJson(text) ? Canonical(text) : text);
            }
        return values;
    }

    private static bool LooksJson(string text)
    {
        try
        {
            JsonDocument.Parse(text).Dispose();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Canonical(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement);
}
