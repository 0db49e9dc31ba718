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
    private readonly Uri _eventTypes = new(options.Url.TrimEnd('/') + "/api/v1/event_types/");
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _types = new(StringComparer.Ordinal);

    public int MaxBatch => 1;

    public HttpRequestMessage Build(IReadOnlyList<SinkEvent> batch)
    {
        var e = batch.Single();
        var body = new Dictionary<string, object>
        {
            ["application_id"] = options.ApplicationId,
            ["event_id"] = EventId(slot, e),
            ["event_type"] = Hook0EventType.Of(e).Name,
            ["payload"] = Encoding.UTF8.GetString(ChangeJson.Serialize(e, slot)),
            ["payload_content_type"] = "application/json",
            ["occurred_at"] = DateTime.SpecifyKind(e.Txn.CommitTimestamp, DateTimeKind.Utc),
            // Hook0 wants 1 to 10 labels of 1 to 50 bytes; a table name can be longer.
            ["labels"] = new Dictionary<string, string>
            {
                ["table"] = Hook0Text.Label(e.Row.Relation.QualifiedName),
                ["operation"] = e.Operation,
                ["pipeline"] = Hook0Text.Label(slot),
            },
        };
        var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = JsonContent(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        return request;
    }

    // 409 EventAlreadyIngested: this id was ingested before (a retry after a lost answer, or a replay).
    public DeliveryOutcome Classify(HttpStatusCode status) => status == HttpStatusCode.Conflict ? DeliveryOutcome.Delivered : IEventEndpoint.Common(status);

    /// <summary>
    /// Hook0 refuses an event whose type the application does not have (400 EventTypeDoesNotExist), so each type is
    /// created once per process before its first event: POST /api/v1/event_types/ {service, resource_type, verb}; 201 and
    /// 409 (it exists) both do. Any other answer is returned as the answer to the event, so that delivery retries what
    /// may pass later and dead-letters what Hook0 refuses for good (a 422) instead of stalling every table behind it.
    /// </summary>
    public async Task<HttpResponseMessage?> PrepareAsync(IReadOnlyList<SinkEvent> batch, HttpClient http, CancellationToken ct)
    {
        foreach (var e in batch)
        {
            var type = Hook0EventType.Of(e);
            if (_types.ContainsKey(type.Name)) continue;
            using var request = new HttpRequestMessage(HttpMethod.Post, _eventTypes)
            {
                Content = JsonContent(new Dictionary<string, object>
                {
                    ["application_id"] = options.ApplicationId,
                    ["service"] = type.Service,
                    ["resource_type"] = type.ResourceType,
                    ["verb"] = type.Verb,
                }),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
            var response = await http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.Conflict)
            {
                var refusal = new HttpResponseMessage(response.StatusCode)
                {
                    Content = new StringContent($"Hook0 did not create the event type {type.Name}: {await response.Content.ReadAsStringAsync(ct)}"),
                };
                refusal.Headers.RetryAfter = response.Headers.RetryAfter;
                response.Dispose();
                return refusal;
            }
            response.Dispose();
            _types[type.Name] = true;
        }
        return null;
    }

    private static ByteArrayContent JsonContent(object body)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

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
}
