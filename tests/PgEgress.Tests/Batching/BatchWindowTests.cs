using PgEgress.Core.Batching;

namespace PgEgress.Tests.Batching;

public class BatchWindowTests
{
    private static readonly TimeSpan Five = TimeSpan.FromMinutes(5);
    private static DateTime At(int h, int m, int s = 0) => new(2026, 11, 23, h, m, s, DateTimeKind.Utc);

    [Fact]
    public void The_first_scheduled_flush_covers_the_aligned_window_that_just_ended()
    {
        var w = BatchWindow.For(At(12, 5), null, Five);
        Assert.Equal((At(12, 0), At(12, 5)), (w.Start, w.Cut));
    }

    [Fact]
    public void A_forced_flush_cuts_early_and_the_next_window_starts_at_its_cut()
    {
        var forced = BatchWindow.For(At(12, 7, 13).AddMilliseconds(400), At(12, 5), Five);
        Assert.Equal((At(12, 5), At(12, 7, 13)), (forced.Start, forced.Cut));
        var next = BatchWindow.For(At(12, 10), forced.Cut, Five);
        Assert.Equal((At(12, 7, 13), At(12, 10)), (next.Start, next.Cut));
    }

    [Fact]
    public void Two_flushes_in_the_same_second_still_get_distinct_windows()
    {
        var w = BatchWindow.For(At(12, 7, 13).AddMilliseconds(900), At(12, 7, 13), Five);
        Assert.Equal((At(12, 7, 13), At(12, 7, 14)), (w.Start, w.Cut));
    }

    [Fact]
    public void Next_boundary_is_aligned_to_the_interval()
    {
        Assert.Equal(At(12, 10), BatchWindow.NextBoundary(At(12, 7, 13), Five));
        Assert.Equal(At(12, 10), BatchWindow.NextBoundary(At(12, 5), Five));
    }
}
