using System.Net;

namespace PgEgress.Core.Sinks;

/// <summary>What a response means for the events it carried.</summary>
public enum DeliveryOutcome
{
    Delivered,
    /// <summary>
    /// 408, 429, 5xx, and 401/403/404 (a wrong key or URL is a configuration problem to fix, not a reason to drain the
    /// stream into the dead-letter area): the endpoint may take it later; retried until it does.
    /// </summary>
    Retry,
    /// <summary>Another 4xx (the endpoint refuses this content): retried a few times, then dead-lettered.</summary>
    Reject,
}

/// <summary>An HTTP endpoint of an event sink: how a batch of events becomes a request, and what a status code means.</summary>
public interface IEventEndpoint
{
    /// <summary>Events per request.</summary>
    int MaxBatch { get; }

    /// <summary>A new request for the batch (a retry builds it again: requests cannot be resent).</summary>
    HttpRequestMessage Build(IReadOnlyList<SinkEvent> batch);

    DeliveryOutcome Classify(HttpStatusCode status);

    /// <summary>
    /// Whatever the endpoint needs before it can take the batch (Hook0: its event types); retried with the send. Null when
    /// ready; otherwise the endpoint's refusal, which stands for the answer to the batch (retried or dead-lettered like one).
    /// </summary>
    Task<HttpResponseMessage?> PrepareAsync(IReadOnlyList<SinkEvent> batch, HttpClient http, CancellationToken ct);

    /// <summary>The classification every endpoint shares for statuses with no meaning of their own.</summary>
    public static DeliveryOutcome Common(HttpStatusCode status) => (int)status switch
    {
        >= 200 and < 300 => DeliveryOutcome.Delivered,
        401 or 403 or 404 or 408 or 429 or >= 500 => DeliveryOutcome.Retry,
        _ => DeliveryOutcome.Reject,
    };
}
