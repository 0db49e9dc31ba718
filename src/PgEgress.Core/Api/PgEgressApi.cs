using PgEgress.Core.Batching;
using PgEgress.Core.Health;

namespace PgEgress.Core.Api;

/// <summary>
/// What each route of the HTTP API does, shared by the Host (Kestrel) and the Functions app (HTTP triggers), so the
/// two serve the same answers. Authorization is the runtime's: the Host's key filter, the Functions function keys.
/// </summary>
public sealed class PgEgressApi(StatusReader status, ForcedFlush flush, IngestProgress progress)
{
    /// <summary>How long <c>POST /api/flush</c> waits for ingest to stage past its marker (under the 230 s Azure front-end limit).</summary>
    public static readonly TimeSpan FlushTimeout = TimeSpan.FromMinutes(2);

    /// <summary><c>GET /api/health</c>: the process answers.</summary>
    public static ApiReply Health() => ApiReply.Json(new { status = "up" });

    /// <summary><c>GET /api/ready</c>: 200 when the source, the slot and the store are usable, else 503 with the failing check.</summary>
    public async Task<ApiReply> ReadyAsync(CancellationToken ct)
    {
        var report = await status.CheckReadyAsync(ct);
        return ApiReply.Json(report, report.Ready ? 200 : 503);
    }

    /// <summary><c>GET /api/status</c>: slot, positions, backlog, last slice and flush, per-table totals.</summary>
    public async Task<ApiReply> StatusAsync(CancellationToken ct) => ApiReply.Json(await status.ReadAsync(ct));

    /// <summary><c>POST /api/flush</c>: flushes everything committed before the request; 504 when ingest does not reach the marker in time.</summary>
    public async Task<ApiReply> FlushAsync(CancellationToken ct)
    {
        try
        {
            var result = await flush.RunAsync(FlushTimeout, ct);
            progress.FlushDone(result);
            return ApiReply.Json(result);
        }
        catch (TimeoutException e)
        {
            return ApiReply.Fail(504, e.Message);
        }
    }
}
