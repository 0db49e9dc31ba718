using PgEgress.Core.Batching;
using System.Globalization;
using PgEgress.Core.Configuration;
using PgEgress.Core.Domain;
using PgEgress.Core.Health;
using PgEgress.Core.History;
using PgEgress.Core.Registry;
using PgEgress.Core.Verification;

namespace PgEgress.Core.Api;

/// <summary>
/// What each route of the HTTP API does, shared by the Host (Kestrel) and the Functions app (HTTP triggers), so the
/// two serve the same answers. Authorization is the runtime's: the Host's key filter, the Functions function keys.
/// </summary>
public sealed class PgEgressApi(StatusReader status, ForcedFlush flush, IngestProgress progress, OperationStore operations, SourceOptions source,
    VerificationStore verifications, RowHistory history)
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
    public Task<ApiReply> StatusAsync(CancellationToken ct) => FromSourceAsync(async () => ApiReply.Json(await status.ReadAsync(ct)));

    /// <summary>Runs a route that reads the source: a source that is down is a 503 with the reason, not a bare 500.</summary>
    internal static async Task<ApiReply> FromSourceAsync(Func<Task<ApiReply>> route)
    {
        try
        {
            return await route();
        }
        catch (Exception e) when (SourceUnavailable.Matches(e))
        {
            return SourceUnavailable.Reply(e);
        }
    }

    /// <summary><c>POST /api/flush</c>: flushes everything committed before the request; 504 when ingest does not reach the marker in time.</summary>
    public Task<ApiReply> FlushAsync(CancellationToken ct) => FromSourceAsync(async () =>
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
    });

    /// <summary>
    /// <c>POST /api/tables/{table}/reload</c>: 202 with the new operation; 200 with the one already waiting or exporting
    /// for the table; 400 for a name that is not a table name, 404 for an unknown table, 409 for a table outside the
    /// publication, 503 when the source is down. The name only ever reaches the database as a bind parameter.
    /// </summary>
    public async Task<ApiReply> RequestReloadAsync(string table, CancellationToken ct)
    {
        if (BadTable(table, out var name) is { } bad) return bad;
        return await FromSourceAsync(async () =>
        {
            var request = await operations.RequestAsync(source.Slot, name, "http", ct);
            return request.Outcome switch
            {
                ReloadRequestOutcome.Accepted => ApiReply.Json(OperationStatus.From(request.Operation!, null, request.Created), request.Created ? 202 : 200),
                ReloadRequestOutcome.NotFound => ApiReply.Fail(404, request.Problem!),
                _ => ApiReply.Fail(409, request.Problem!),
            };
        });
    }

    /// <summary><c>GET /api/operations/{id}</c>: a reload or initial load of this pipeline, with live progress while it exports.</summary>
    public async Task<ApiReply> OperationAsync(string id, CancellationToken ct)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return ApiReply.Fail(400, $"'{id}' is not an operation id (a positive whole number)");
        return await FromSourceAsync(async () =>
        {
            var op = await operations.GetAsync(number, ct);
            return op is null || op.Slot != source.Slot
                ? ApiReply.Fail(404, $"no operation {number} in pipeline '{source.Slot}'")
                : ApiReply.Json(status.Operation(op));
        });
    }

    /// <summary>
    /// <c>POST /api/tables/{table}/verify[?repair=true]</c>: 202 with the requested verification; 400 for a bad name or
    /// repair value, 404 for an unknown table, 409 for a table outside the publication (the reload route's rules).
    /// </summary>
    public async Task<ApiReply> RequestVerifyAsync(string table, string? repair, CancellationToken ct)
    {
        if (BadTable(table, out var name) is { } bad) return bad;
        var fix = false;
        if (repair is not null && !bool.TryParse(repair, out fix)) return ApiReply.Fail(400, $"repair must be true or false, not '{repair}'");
        return await FromSourceAsync(async () =>
        {
            if (await operations.PublishedAsync(source.Publication, name, ct) is { } refused)
                return ApiReply.Fail(refused.Exists ? 409 : 404, refused.Problem);
            return ApiReply.Json(await verifications.RequestAsync(source.Slot, name, "api", fix, ct), 202);
        });
    }

    /// <summary>
    /// <c>GET /api/tables/{table}/history?key=…</c> (or <c>key.{column}=…</c> per key column): every registered change of
    /// the row, in the order a loader applies the files; 400 for a bad name or key, 404 for an unknown table, 409 for a
    /// table outside the publication.
    /// </summary>
    public async Task<ApiReply> HistoryAsync(string table, IEnumerable<KeyValuePair<string, string?>> query, CancellationToken ct)
    {
        if (BadTable(table, out var name) is { } bad) return bad;
        if (RowKey.Parse(query, out var keyProblem) is not { } key) return ApiReply.Fail(400, keyProblem!);
        return await FromSourceAsync(async () =>
        {
            if (await operations.PublishedAsync(source.Publication, name, ct) is { } refused)
                return ApiReply.Fail(refused.Exists ? 409 : 404, refused.Problem);
            var (found, wrongKey) = await history.ReadAsync(name, key, ct);
            return found is not null ? ApiReply.Json(found) : ApiReply.Fail(400, wrongKey!);
        });
    }

    /// <summary>A 400 for a table name the routes cannot take; null with the parsed name otherwise.</summary>
    private static ApiReply? BadTable(string table, out TableName name)
    {
        if (!TableName.TryParse(table, out name, out var problem)) return ApiReply.Fail(400, problem);
        // PostgreSQL refuses a NUL in any text.
        return table.Contains('\0') ? ApiReply.Fail(400, "the table name must not contain a NUL character") : null;
    }

    /// <summary><c>GET /api/verifications/{id}</c>: one verification with its discrepancy sample; 404 when unknown.</summary>
    public async Task<ApiReply> VerificationAsync(string id, CancellationToken ct)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return ApiReply.Fail(400, $"'{id}' is not a verification id (a positive whole number)");
        return await FromSourceAsync(async () => await verifications.GetAsync(source.Slot, number, ct) is { } found
            ? ApiReply.Json(found)
            : ApiReply.Fail(404, $"no verification {number} in pipeline '{source.Slot}'"));
    }
}
