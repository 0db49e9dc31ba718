using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Api;
using PgEgress.Core.Clients;

namespace PgEgress.Functions.Api;

/// <summary>
/// The Host's HTTP API as HTTP triggers: the same paths under the "api" prefix (host.json), the same answers (Core's
/// <see cref="PgEgressApi"/>); every route but health and the page needs a function key (x-functions-key or ?code=).
/// tests/PgEgress.Tests/Functions/RouteParityTests compares these declarations with the Host's routes.
/// </summary>
public sealed class ApiFunctions(PgEgressApi api, ClientsApi clients)
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

    [Function("RegisterClient")]
    public async Task<IActionResult> RegisterClient([HttpTrigger(AuthorizationLevel.Function, "post", Route = "clients")] HttpRequest request) =>
        ApiActionResult.From(await clients.RegisterAsync(await RequestBody.ReadAsync(request.Body, request.HttpContext.RequestAborted), request.HttpContext.RequestAborted));

    [Function("Clients")]
    public async Task<IActionResult> Clients([HttpTrigger(AuthorizationLevel.Function, "get", Route = "clients")] HttpRequest request) =>
        ApiActionResult.From(await clients.ListAsync(request.HttpContext.RequestAborted));

    [Function("Client")]
    public async Task<IActionResult> Client([HttpTrigger(AuthorizationLevel.Function, "get", Route = "clients/{id}")] HttpRequest request, string id) =>
        ApiActionResult.From(await clients.GetAsync(id, request.HttpContext.RequestAborted));

    [Function("DisconnectClient")]
    public async Task<IActionResult> DisconnectClient([HttpTrigger(AuthorizationLevel.Function, "delete", Route = "clients/{id}")] HttpRequest request, string id) =>
        ApiActionResult.From(await clients.DisconnectAsync(id, request.HttpContext.RequestAborted));

    // The feed routes check the client's own secret (Core), not a function key.
    [Function("PingClient")]
    public async Task<IActionResult> PingClient([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "clients/{id}/ping")] HttpRequest request, string id) =>
        ApiActionResult.From(await clients.PingAsync(id, request.Headers.Authorization, request.HttpContext.RequestAborted));

    [Function("ClientChanges")]
    public async Task<IActionResult> ClientChanges([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "clients/{id}/changes")] HttpRequest request, string id) =>
        ApiActionResult.From(await clients.ChangesAsync(id, request.Headers.Authorization, request.Query["after"], request.Query["limit"], request.Query["wait"],
            request.Headers.Accept, request.HttpContext.RequestAborted), request.HttpContext.Response);

    [Function("AckClient")]
    public async Task<IActionResult> AckClient([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "clients/{id}/ack")] HttpRequest request, string id) =>
        ApiActionResult.From(await clients.AckAsync(id, request.Headers.Authorization,
            await RequestBody.ReadAsync(request.Body, request.HttpContext.RequestAborted), request.HttpContext.RequestAborted));

    [Function("ClientEvents")]
    public async Task<IActionResult> ClientEvents([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "clients/{id}/events")] HttpRequest request, string id) =>
        ApiActionResult.From(await clients.EventsAsync(id, request.Headers.Authorization, request.Headers["Last-Event-ID"], request.HttpContext.RequestAborted),
            request.HttpContext.Response);

    [Function("VerifyTable")]
    public async Task<IActionResult> VerifyTable([HttpTrigger(AuthorizationLevel.Function, "post", Route = "tables/{table}/verify")] HttpRequest request,
        string table) =>
        ApiActionResult.From(await api.RequestVerifyAsync(table, request.Query["repair"].FirstOrDefault(), request.HttpContext.RequestAborted));

    [Function("RowHistory")]
    public async Task<IActionResult> RowHistory([HttpTrigger(AuthorizationLevel.Function, "get", Route = "tables/{table}/history")] HttpRequest request,
        string table) =>
        ApiActionResult.From(await api.HistoryAsync(table, request.Query.Select(q => KeyValuePair.Create(q.Key, (string?)q.Value.ToString())),
            request.HttpContext.RequestAborted));

    [Function("Verification")]
    public async Task<IActionResult> Verification([HttpTrigger(AuthorizationLevel.Function, "get", Route = "verifications/{id}")] HttpRequest request,
        string id) =>
        ApiActionResult.From(await api.VerificationAsync(id, request.HttpContext.RequestAborted));
}
