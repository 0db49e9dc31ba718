namespace PgEgress.Core.Sinks;

/// <summary>One sink's delivery from its cursor, a bounded slice at a time (a Functions activity, or a round of the Host's loop).</summary>
public interface ISinkRunner
{
    string Name { get; }

    /// <summary>Delivers for up to <paramref name="budget"/> (ending sooner on cancellation), then writes the cursor.</summary>
    Task<SinkSliceResult> RunSliceAsync(TimeSpan budget, CancellationToken ct);
}

/// <param name="CaughtUp">The sink had delivered everything staged when the slice ended.</param>
public sealed record SinkSliceResult(string Sink, ulong StartLsn, ulong CursorLsn, bool CaughtUp);
