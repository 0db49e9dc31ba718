using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Xml;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Sinks;

/// <summary>
/// The HTTP webhook sink: CloudEvents 1.0 in structured mode (one event as application/cloudevents+json, a batch as
/// a JSON array in application/cloudevents-batch+json; with Format Xml, application/xml in binary mode: a change's
/// &lt;change&gt; document with the attributes as ce-* headers, a batch as &lt;changes&gt;), an optional fixed header, and Standard Webhooks signing
/// (webhook-id, webhook-timestamp, webhook-signature: v1,base64(HMAC-SHA256(secret, "id.timestamp.body"))) when a
/// secret is set. The event id is the change's "lsn-seq", the same in every retry and replay.
/// </summary>
public sealed class CloudEventsEndpoint(string slot, SinkOptions options, TimeProvider clock) : IEventEndpoint
{
    private readonly byte[]? _secret = options.Secret is { Length: > 0 } s ? SecretBytes(s) : null;
    private readonly HttpMethod _method = new(options.Method.ToUpperInvariant());

    public int MaxBatch => options.BatchMaxEvents;

    /// <summary>The key bytes of a Standard Webhooks secret: base64 after the whsec_ prefix.</summary>
    public static byte[] SecretBytes(string secret) => Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret);

    public HttpRequestMessage Build(IReadOnlyList<SinkEvent> batch)
    {
        var xml = options.EffectiveFormat == SinkFormat.Xml;
        var body = xml ? XmlBody(batch) : JsonBody(batch);
        var request = new HttpRequestMessage(_method, options.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(xml ? "application/xml"
            : batch.Count > 1 ? "application/cloudevents-batch+json" : "application/cloudevents+json")
        {
            CharSet = "utf-8",
        };
        // XML goes in CloudEvents' binary mode: the attributes as ce-* headers, the body the data (one event; a batch has no binary mode).
        if (xml && batch.Count == 1)
        {
            var e = batch[0];
            request.Headers.Add("ce-specversion", "1.0");
            request.Headers.Add("ce-id", e.Id);
            request.Headers.Add("ce-source", $"/pgegress/{slot}");
            request.Headers.TryAddWithoutValidation("ce-type", HeaderValue(e.EventType));
            request.Headers.TryAddWithoutValidation("ce-subject", HeaderValue(e.Row.Relation.QualifiedName));
            request.Headers.Add("ce-time", ChangeXml.Timestamp(e.Txn.CommitTimestamp));
        }
        if (options.AuthHeaderName.Length > 0) request.Headers.TryAddWithoutValidation(options.AuthHeaderName, options.AuthHeaderValue);
        if (_secret is not null)
        {
            // One message id per request: a batch is signed as one message; its id is stable across retries.
            var id = batch.Count == 1 ? batch[0].Id : $"{batch[0].Id}..{batch[^1].Id}";
            var timestamp = clock.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(body).ToArray();
            request.Headers.Add("webhook-id", id);
            request.Headers.Add("webhook-timestamp", timestamp);
            request.Headers.Add("webhook-signature", "v1," + Convert.ToBase64String(HMACSHA256.HashData(_secret, signed)));
        }
        return request;
    }

    public DeliveryOutcome Classify(HttpStatusCode status) => IEventEndpoint.Common(status);

    public Task<HttpResponseMessage?> PrepareAsync(IReadOnlyList<SinkEvent> batch, HttpClient http, CancellationToken ct) => Task.FromResult<HttpResponseMessage?>(null);

    /// <summary>
    /// A ce-* header value as CloudEvents' HTTP binding has it: space, '"', '%' and every byte of UTF-8 outside printable
    /// ASCII percent-encoded (a quoted table name may hold any of them).
    /// </summary>
    public static string HeaderValue(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
            text.Append(b is > 0x20 and < 0x7F and not (byte)'"' and not (byte)'%' ? ((char)b).ToString() : $"%{b:X2}");
        return text.ToString();
    }

    private byte[] JsonBody(IReadOnlyList<SinkEvent> batch)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            if (batch.Count > 1) w.WriteStartArray();
            foreach (var e in batch) WriteEvent(w, e);
            if (batch.Count > 1) w.WriteEndArray();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One change as a &lt;change&gt; document, a batch as &lt;changes&gt; holding them (see <see cref="ChangeXml"/>).</summary>
    private byte[] XmlBody(IReadOnlyList<SinkEvent> batch)
    {
        using var buffer = new MemoryStream();
        // Entitize keeps CR and tabs exact through a parser's end-of-line and attribute normalisation.
        var settings = new XmlWriterSettings { Encoding = new UTF8Encoding(false), NewLineHandling = NewLineHandling.Entitize };
        using (var w = XmlWriter.Create(buffer, settings))
        {
            w.WriteStartDocument();
            if (batch.Count > 1) w.WriteStartElement("changes", ChangeXml.Namespace);
            foreach (var e in batch) ChangeXml.Write(w, e, slot);
            if (batch.Count > 1) w.WriteEndElement();
            w.WriteEndDocument();
        }
        return buffer.ToArray();
    }

    private void WriteEvent(Utf8JsonWriter w, SinkEvent e)
    {
        var relation = e.Row.Relation;
        w.WriteStartObject();
        w.WriteString("specversion", "1.0");
        w.WriteString("id", e.Id);
        w.WriteString("source", $"/pgegress/{slot}");
        w.WriteString("type", e.EventType);
        w.WriteString("subject", relation.QualifiedName);
        w.WriteString("time", DateTime.SpecifyKind(e.Txn.CommitTimestamp, DateTimeKind.Utc));
        w.WriteString("datacontenttype", "application/json");
        w.WritePropertyName("data");
        ChangeJson.Write(w, e, slot);
        w.WriteEndObject();
    }
}
