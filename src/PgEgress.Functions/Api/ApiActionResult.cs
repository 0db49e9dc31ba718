using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using PgEgress.Core.Api;
using PgEgress.Core.Clients;

namespace PgEgress.Functions.Api;

/// <summary>
/// Sends Core's <see cref="ApiReply"/> with the very ASP.NET Core results the Host sends (Results.Json in
/// <see cref="ApiJson.Options"/>, Results.Problem for failures, with its RFC 9110 type link), so both answer
/// byte for byte alike; tests/PgEgress.Functions.Tests/Http/ApiParityTests compares them side by side.
/// </summary>
public sealed class ApiActionResult(IResult result) : IActionResult
{
    public static IActionResult From(ApiReply reply) => new ApiActionResult(reply.Problem is { } problem
        ? Results.Problem(problem, statusCode: reply.StatusCode)
        : Results.Json(reply.Body, ApiJson.Options, statusCode: reply.StatusCode));

    /// <summary>A feed answer: a problem, or a body streamed to the response with its headers (204 without one), as the Host sends it.</summary>
    public static IActionResult From((ApiReply? Reply, StreamReply? Stream) answer, HttpResponse response)
    {
        if (answer.Reply is { } reply) return From(reply);
        var stream = answer.Stream!;
        foreach (var (name, value) in stream.Headers) response.Headers[name] = value;
        return new ApiActionResult(stream.Body is { } body
            ? Results.Stream(target => body(target, response.HttpContext.RequestAborted), stream.ContentType)
            : Results.StatusCode(stream.StatusCode));
    }

    public Task ExecuteResultAsync(ActionContext context) => result.ExecuteAsync(context.HttpContext);
}
