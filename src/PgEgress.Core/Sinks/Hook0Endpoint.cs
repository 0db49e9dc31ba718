using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Sinks;

/// <summary>
/// Hook0's event ingestion API: POST {base}/api/v1/event/ with a Bearer token, one event per request. The event id is a
/// name-based UUID (version 5) of pipeline, LSN and sequence, so a retry or a replay is recognised by Hook0 (409, which
/// counts as delivered). The change goes as a JSON-encoded string in payload, as Hook0 requires.
/// </summary>
public sealed class Hook0Endpoint(string slot, SinkOptions options) : IEventEndpoint
{
    private static readonly Guid Namespace = new("5f0b6c8e-2d1a-4f3e-9b7c-0a1d2e3f4b5c");
    private readonly Uri _url = new(options.Url.TrimEnd('/') + "/api/v1/event/");

    public int MaxBatch => 1;

    public HttpRequestMessage Build(IReadOnlyList<SinkEvent> batch)
    {
        var e = batch.Single();
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["application_id"] = options.ApplicationId,
            ["event_id"] = EventId(slot, e),
            ["event_type"] = e.EventType,
            ["payload"] = Encoding.UTF8.GetString(ChangeJson.Serialize(e, slot)),
            ["payload_content_type"] = "application/json",
            ["occurred_at"] = DateTime.SpecifyKind(e.Txn.CommitTimestamp, DateTimeKind.Utc),
            // Hook0 wants 1 to 10 labels of 1 to 50 characters; a table name can be longer.
            ["labels"] = new Dictionary<string, string>
            {
                ["table"] = Clip(e.Row.Relation.QualifiedName),
                ["operation"] = e.Operation,
                ["pipeline"] = Clip(slot),
            },
        });
        var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        return request;
    }

    public DeliveryOutcome Classify(HttpStatusCode status) => (int)status switch
    {
        // 409 EventAlreadyIngested: this id was ingested before (a retry after a lost answer, or a replay).
        >= 200 and < 300 or 409 => DeliveryOutcome.Delivered,
        408 or 429 or >= 500 => DeliveryOutcome.Retry,
        _ => DeliveryOutcome.Reject,
    };

    /// <summary>RFC 4122 name-based UUID (SHA-1, version 5) of "pipeline/lsn/seq".</summary>
    public static Guid EventId(string slot, SinkEvent e)
    {
        var ns = Namespace.ToByteArray(bigEndian: true);
        var name = Encoding.UTF8.GetBytes($"{slot}/{e.Id}");
        var hash = SHA1.HashData([.. ns, .. name]);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    private static string Clip(string value) => value.Length <= 50 ? value : value[..50];
}
