using System.Net;

namespace PgEgress.Core.Sinks;

/// <summary>What a response means for the events it carried.</summary>
public enum DeliveryOutcome
{
    Delivered,
    /// <summary>408, 429, 5xx: the endpoint may take it later; retried until it does.</summary>
    Retry,
    /// <summary>Another 4xx: retried a few times, then dead-lettered.</summary>
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
}
