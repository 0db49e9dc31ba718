namespace PgEgress.Core.Api;

/// <summary>
/// One HTTP answer of the PgEgress API, independent of the web stack that sends it: a status code and either a JSON
/// body or, for a failure, a problem detail (sent as <c>application/problem+json</c>). The Host turns it into an
/// ASP.NET Core result, the Functions app into an action result; neither decides anything else.
/// </summary>
public sealed record ApiReply(int StatusCode, object? Body, string? Problem = null)
{
    public static ApiReply Json(object body, int statusCode = 200) => new(statusCode, body);

    public static ApiReply Fail(int statusCode, string problem) => new(statusCode, null, problem);
}
