using Microsoft.Azure.Functions.Worker;
using PgEgress.Core.Sinks;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Sinks;

/// <summary>The sink orchestration's activity: one slice of Core's runner for the sink.</summary>
public sealed class SinkActivities(SinkRunners sinks)
{
    /// <summary>
    /// How long one activity delivers: well inside the function timeout, long enough to amortise its start. A transaction
    /// that takes longer goes on in the next activity where this one stopped (the runner keeps its progress in the cursor).
    /// </summary>
    public static readonly TimeSpan SliceBudget = TimeSpan.FromMinutes(2);

    /// <returns>True when the sink had delivered everything staged.</returns>
    [Function(nameof(DeliverSink))]
    public async Task<bool> DeliverSink([ActivityTrigger] string sink, FunctionContext context)
    {
        var runner = sinks.For(sink) ?? throw new InvalidOperationException($"sink '{sink}' is not configured or not enabled");
        try
        {
            return (await runner.RunSliceAsync(SliceBudget, context.CancellationToken)).CaughtUp;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The runner recorded it in the sink's status.
            if (PermanentFailureException.For(e) is { } permanent) throw permanent;
            throw;
        }
    }
}
