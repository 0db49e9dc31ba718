namespace PgEgress.Core.Health;

/// <summary>One point of <see cref="LagHistory"/>: the largest lag a consumer showed in the interval starting at <paramref name="At"/>.</summary>
public sealed record LagPoint(DateTime At, string Consumer, long? Bytes, double? Seconds);

/// <summary>
/// The last hour of every consumer's lag, kept in the process for the status page's sparklines: one point per
/// <see cref="Interval"/>, at most <see cref="Points"/> per consumer, fed by every lag reading. A point holds the largest
/// lag seen in its interval, so a spike between two page refreshes still shows. Lost on restart, by design: the
/// durable numbers are the metrics.
/// </summary>
public sealed class LagHistory(TimeProvider clock)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    public const int Points = 120;
    public static readonly TimeSpan Span = Interval * Points;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<LagPoint>> _byConsumer = new(StringComparer.Ordinal);

    public void Record(IEnumerable<ConsumerLag> lags)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var at = new DateTime(now.Ticks - now.Ticks % Interval.Ticks, DateTimeKind.Utc);
        lock (_gate)
        {
            foreach (var lag in lags)
            {
                if (!_byConsumer.TryGetValue(lag.Consumer, out var points)) _byConsumer[lag.Consumer] = points = [];
                if (points.Count > 0 && points[^1].At == at)
                    points[^1] = points[^1] with { Bytes = Max(points[^1].Bytes, lag.Bytes), Seconds = Max(points[^1].Seconds, lag.Seconds) };
                else
                    points.Add(new LagPoint(at, lag.Consumer, lag.Bytes, lag.Seconds));
                if (points.Count > Points) points.RemoveAt(0);
            }
        }
    }

    /// <summary>The points whose interval reaches into the last <see cref="Span"/>, by consumer, oldest first; a consumer no longer reported ages out.</summary>
    public IReadOnlyList<LagPoint> Read()
    {
        var since = clock.GetUtcNow().UtcDateTime - Span;
        lock (_gate)
            return [.. _byConsumer.OrderBy(c => c.Key, StringComparer.Ordinal).SelectMany(c => c.Value.Where(p => p.At + Interval > since))];
    }

    private static T? Max<T>(T? a, T? b) where T : struct, IComparable<T> =>
        a is null ? b : b is null ? a : a.Value.CompareTo(b.Value) >= 0 ? a : b;
}
