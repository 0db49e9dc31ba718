using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Pipeline;

namespace PgEgress.Functions.Flush;

/// <summary>
/// The five-minute flush, as the Host's timer does it: Core's <see cref="TimerFlush"/> cuts at the window boundary.
/// The timer runs on one instance at a time, and the flush itself holds a PostgreSQL advisory lock per slot, so it
/// never overlaps a forced flush (POST /api/flush) or a Host flushing the same slot.
/// </summary>
public sealed class FlushTimer(TimerFlush flush)
{
    [Function(nameof(FlushTimer))]
    public async Task Run([TimerTrigger("0 */5 * * * *")] TimerInfo timer, FunctionContext context) =>
        await flush.RunAsync(context.CancellationToken);
}
