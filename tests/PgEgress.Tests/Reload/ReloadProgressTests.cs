using PgEgress.Core.Reload;

namespace PgEgress.Tests.Reload;

/// <summary>The live progress /api/status shows for an export: rows, bytes, ranges, and an ETA from the rate so far.</summary>
public sealed class ReloadProgressTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void The_eta_is_the_remaining_estimated_rows_at_the_rate_so_far_and_a_finished_export_is_no_longer_shown()
    {
        var clock = new ManualClock();
        var progress = new ReloadProgress(clock);
        progress.Report(new ExportProgress(7, 0, 100, 4000, 0, 4));
        Assert.Null(progress.For(7)!.EtaSeconds);

        clock.Now += TimeSpan.FromSeconds(10);
        progress.Report(new ExportProgress(7, 1000, 50_000, 4000, 1, 4));
        var status = progress.For(7)!;
        Assert.Equal((1000L, 50_000L, 1, 4), (status.Rows, status.Bytes, status.RangesDone, status.Ranges));
        Assert.Equal(30, status.EtaSeconds!.Value, precision: 6);

        Assert.Null(progress.For(8));
        progress.Done(7);
        Assert.Null(progress.For(7));
    }

    [Fact]
    public void Without_a_row_estimate_there_is_no_eta()
    {
        var clock = new ManualClock();
        var progress = new ReloadProgress(clock);
        progress.Report(new ExportProgress(1, 0, 0, 0, 0, 1));
        clock.Now += TimeSpan.FromSeconds(5);
        progress.Report(new ExportProgress(1, 500, 9000, 0, 0, 1));
        Assert.Null(progress.For(1)!.EtaSeconds);
    }
}
