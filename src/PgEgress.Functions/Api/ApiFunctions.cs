using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Api;

namespace PgEgress.Functions.Api;

/// <summary>
/// The Host's HTTP API as HTTP triggers: the same paths under the "api" prefix (host.json), the same answers (Core's
/// <see cref="PgEgressApi"/>); every route but health and the page needs a function key (x-functions-key or ?code=).
/// tests/PgEgress.Tests/Functions/RouteParityTests compares these declarations with the Host's routes.
/// </summary>
public sealed class ApiFunctions(PgEgressApi api)
{
    [Function("Health")]
    public IActionResult Health([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request) =>
        ApiActionResult.From(PgEgressApi.Health());

    /// <summary>The status page; the Host serves it at its root too (Functions routes all live under the "api" prefix).</summary>
    [Function("StatusPage")]
    public IActionResult Page([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "page")] HttpRequest request)
    {
        foreach (var (name, value) in StatusPage.Headers) request.HttpContext.Response.Headers[name] = value;
        return new ApiActionResult(Results.Text(StatusPage.Html, StatusPage.ContentType));
    }

    [Function("Ready")]
    public async Task<IActionResult> Ready([HttpTrigger(AuthorizationLevel.Function, "get", Route = "ready")] HttpRequest request) =>
        ApiActionResult.From(await api.ReadyAsync(request.HttpContext.RequestAborted));

    [Function("Status")]
    public async Task<IActionResult> Status([HttpTrigger(AuthorizationLevel.Function, "get", Route = "status")] HttpRequest request) =>
        ApiActionResult.From(await api.StatusAsync(request.HttpContext.RequestAborted));

    [Function("Flush")]
    public async Task<IActionResult> Flush([HttpTrigger(AuthorizationLevel.Function, "post", Route = "flush")] HttpRequest request) =>
        ApiActionResult.From(await api.FlushAsync(request.HttpContext.RequestAborted));

    [Function("ReloadTable")]
    public async Task<IActionResult> ReloadTable([HttpTrigger(AuthorizationLevel.Function, "post", Route = "tables/{table}/reload")] HttpRequest request,
        string table) =>
        ApiActionResult.From(await api.RequestReloadAsync(table, request.HttpContext.RequestAborted));

    [Function("Operation")]
    public async Task<IActionResult> Operation([HttpTrigger(AuthorizationLevel.Function, "get", Route = "operations/{id}")] HttpRequest request,
        string id) =>
        ApiActionResult.From(await api.OperationAsync(id, request.HttpContext.RequestAborted));

    [Function("VerifyTable")]
    public async Task<IActionResult> VerifyTable([HttpTrigger(AuthorizationLevel.Function, "post", Route = "tables/{table}/verify")] HttpRequest request,
        string table) =>
        ApiActionResult.From(await api.RequestVerifyAsync(table, request.Query["repair"].FirstOrDefault(), request.HttpContext.RequestAborted));

    [Function("Verification")]
    public async Task<IActionResult> Verification([HttpTrigger(AuthorizationLevel.Function, "get", Route = "verifications/{id}")] HttpRequest request,
        string id) =>
        ApiActionResult.From(await api.VerificationAsync(id, request.HttpContext.RequestAborted));
}
