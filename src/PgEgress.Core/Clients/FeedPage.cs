using PgEgress.Core.Staging;

namespace PgEgress.Core.Clients;

/// <summary>
/// One answer of the change feed, whole transactions in commit order, buffered (in memory up to a bound, then in a
/// temporary file) because <see cref="Next"/> goes into a header before the body and is known only once the page is read.
/// </summary>
public sealed class FeedPage(SpillBuffer body, FeedFormat format, FeedOffset next, int changes) : IAsyncDisposable
{
    public const string NextHeader = "PgEgress-Next-Offset";

    public FeedOffset Next { get; } = next;
    public int Changes { get; } = changes;
    public string ContentType => format == FeedFormat.Json ? "application/json; charset=utf-8" : "application/x-ndjson; charset=utf-8";

    public Task WriteToAsync(Stream target, CancellationToken ct) => body.CopyContentToAsync(target, ct);

    public ValueTask DisposeAsync() => body.DisposeAsync();
}
