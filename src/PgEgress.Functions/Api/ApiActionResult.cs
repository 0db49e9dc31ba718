using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using PgEgress.Core.Api;

namespace PgEgress.Functions.Api;

/// <summary>Sends Core's <see cref="ApiReply"/> as the Host does: JSON in <see cref="ApiJson.Options"/>, failures as problem+json.</summary>
public static class ApiActionResult
{
    public static IActionResult From(ApiReply reply) => reply.Problem is { } problem
        ? new JsonResult(new ProblemDetails { Status = reply.StatusCode, Title = ReasonPhrases.GetReasonPhrase(reply.StatusCode), Detail = problem }, ApiJson.Options)
        {
            StatusCode = reply.StatusCode,
            ContentType = "application/problem+json",
        }
        : new JsonResult(reply.Body, ApiJson.Options) { StatusCode = reply.StatusCode };
}
