using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using PgEgress.Core.Api;
using PgEgress.Functions.Api;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Ingest;

/// <summary>
/// Start, stop and status of the ingest orchestration over HTTP (function key). These routes exist only here: the
/// Host's ingest lives and dies with its process. A stop terminates the orchestration (the slice in progress still
/// finishes and is staged), answers once it is terminated, and the watchdog leaves it stopped until a start.
/// </summary>
public sealed class IngestControl(EternalOrchestrations orchestrations)
{
    [Function("IngestStart")]
    public async Task<IActionResult> Start(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "ingest/start")] HttpRequest request,
        [DurableClient] DurableTaskClient client)
    {
        var ct = request.HttpContext.RequestAborted;
        var ingest = orchestrations.Ingest;
        var outcome = await OrchestrationStarter.EnsureRunningAsync(client, ingest, restartStopped: true, ct);
        return await DescribeAsync(client, ingest, outcome == StartOutcome.Started ? StatusCodes.Status202Accepted : StatusCodes.Status200OK, ct);
    }

    /// <summary>How long a stop waits for the orchestration to apply its termination before answering "Terminating".</summary>
    public static readonly TimeSpan StopWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Terminates the instance, then answers with its state once terminated (200), or "Terminating" (202) when the
    /// task hub has not applied the termination within <see cref="StopWait"/>: termination is queued, and until
    /// the orchestration is next dispatched the instance still reads as running.
    /// </summary>
    [Function("IngestStop")]
    public async Task<IActionResult> Stop(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "ingest/stop")] HttpRequest request,
        [DurableClient] DurableTaskClient client)
    {
        var ct = request.HttpContext.RequestAborted;
        var ingest = orchestrations.Ingest;
        if (await OrchestrationStarter.StopAsync(client, ingest, "stopped over HTTP (POST /api/ingest/stop)", ct))
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(StopWait);
            try
            {
                await client.WaitForInstanceCompletionAsync(ingest.InstanceId, false, wait.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return await DescribeAsync(client, ingest, StatusCodes.Status202Accepted, ct, runtimeStatus: "Terminating");
            }
        }
        return await DescribeAsync(client, ingest, StatusCodes.Status200OK, ct);
    }

    [Function("IngestStatus")]
    public async Task<IActionResult> Status(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "ingest/status")] HttpRequest request,
        [DurableClient] DurableTaskClient client) =>
        await DescribeAsync(client, orchestrations.Ingest, StatusCodes.Status200OK, request.HttpContext.RequestAborted);

    /// <param name="runtimeStatus">In place of the instance's own, when that is known to be about to change.</param>
    private static async Task<IActionResult> DescribeAsync(DurableTaskClient client, EternalOrchestration ingest, int statusCode, CancellationToken ct,
        string? runtimeStatus = null)
    {
        var instance = await client.GetInstanceAsync(ingest.InstanceId, true, ct);
        if (instance is null)
            return ApiActionResult.From(ApiReply.Fail(StatusCodes.Status404NotFound, $"{ingest.InstanceId} has never run; POST /api/ingest/start starts it (the watchdog does within a minute)"));
        return ApiActionResult.From(ApiReply.Json(new
        {
            instance_id = instance.InstanceId,
            runtime_status = runtimeStatus ?? instance.RuntimeStatus.ToString(),
            created_at = instance.CreatedAt,
            last_updated_at = instance.LastUpdatedAt,
            state = instance.ReadInputAs<IngestState>(),
            failure = instance.FailureDetails?.ErrorMessage,
        }, statusCode));
    }
}
