namespace PgEgress.Core.Clients;

/// <summary>How a feed page is written: one JSON object <c>{changes:[…], next}</c>, or one change per line (NDJSON, <c>next</c> in the header only).</summary>
public enum FeedFormat
{
    Json,
    NdJson,
}
