using Microsoft.Extensions.Time.Testing;
using PgEgress.Core.Health;

namespace PgEgress.Tests.Health;

/// <summary>The last hour of lag the status page draws: one point per 30 s per consumer, the interval's largest lag, nothing older than an hour.</summary>
public sealed class LagHistoryTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Readings_within_one_interval_make_one_point_holding_the_largest_lag()
    {
        var clock = new FakeTimeProvider(Start);
        var history = new LagHistory(clock);
        history.Record([new ConsumerLag("ingest", 100, 1.5), new ConsumerLag("flush", 0, 0)]);
        clock.Advance(TimeSpan.FromSeconds(10));
        history.Record([new ConsumerLag("ingest", 400, 0.5), new ConsumerLag("flush", null, 2)]);
        clock.Advance(TimeSpan.FromSeconds(25));
        history.Record([new ConsumerLag("ingest", 50, 0.2)]);

        Assert.Equal(
            [
                new LagPoint(Start.UtcDateTime, "flush", 0, 2),
                new LagPoint(Start.UtcDateTime, "ingest", 400, 1.5),
                new LagPoint(Start.UtcDateTime.AddSeconds(30), "ingest", 50, 0.2),
            ],
            history.Read());
    }

    [Fact]
    public void It_keeps_the_last_hour_and_at_most_120_points_per_consumer()
    {
        var clock = new FakeTimeProvider(Start);
        var history = new LagHistory(clock);
        for (var i = 0; i < 200; i++)
        {
            history.Record([new ConsumerLag("ingest", i, i)]);
            clock.Advance(LagHistory.Interval);
        }
        var points = history.Read();
        Assert.Equal(LagHistory.Points, points.Count);
        Assert.Equal(80, points[0].Bytes);
        Assert.Equal(199, points[^1].Bytes);

        // A consumer that stops reporting (a sink removed, a source that stopped answering) ages out within the hour.
        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(new long?[] { 198, 199 }, history.Read().Select(p => p.Bytes));
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(history.Read());
    }
}
