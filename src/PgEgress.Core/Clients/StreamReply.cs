namespace PgEgress.Core.Clients;

/// <summary>
/// A feed answer whose body is written straight to the response (a page, an event stream) or that has none (204), with
/// its headers; the runtimes copy the headers and hand <see cref="Body"/> the response stream.
/// </summary>
public sealed record StreamReply(int StatusCode, string? ContentType, IReadOnlyDictionary<string, string> Headers, Func<Stream, CancellationToken, Task>? Body);
