using PgEgress.Core.Configuration;
using PgEgress.Core.Verification;

namespace PgEgress.Tests.Verification;

public sealed class VerifyScheduleTests
{
    private static readonly DateTime Now = new(2026, 12, 2, 3, 30, 0, DateTimeKind.Utc);

    private static VerifySchedule Schedule(string interval, string start = "00:00:00", string end = "00:00:00") => new(new HealthOptions
    {
        VerifyInterval = TimeSpan.Parse(interval), VerifyWindowStart = TimeSpan.Parse(start), VerifyWindowEnd = TimeSpan.Parse(end),
    });

    [Fact]
    public void Off_by_default_nothing_is_due()
    {
        Assert.False(new VerifySchedule(new HealthOptions()).Enabled);
        Assert.Empty(new VerifySchedule(new HealthOptions()).Due(Now, ["app.t"], new Dictionary<string, DateTime>()));
    }

    [Fact]
    public void A_table_is_due_when_never_verified_or_an_interval_after_its_last_request()
    {
        var schedule = Schedule("06:00:00");
        var last = new Dictionary<string, DateTime> { ["app.recent"] = Now.AddHours(-1), ["app.old"] = Now.AddHours(-6) };
        Assert.Equal(["app.new", "app.old"], schedule.Due(Now, ["app.new", "app.recent", "app.old"], last));
    }

    [Theory]
    [InlineData("01:00:00", "05:00:00", true)]
    [InlineData("04:00:00", "05:00:00", false)]
    [InlineData("22:00:00", "04:00:00", true)]   // spans midnight
    [InlineData("22:00:00", "03:30:00", false)]  // the end is exclusive
    [InlineData("03:30:00", "03:30:00", true)]   // equal: all day
    public void Only_inside_the_low_traffic_window(string start, string end, bool inside)
    {
        var schedule = Schedule("01:00:00", start, end);
        Assert.Equal(inside, schedule.InWindow(Now));
        Assert.Equal(inside ? 1 : 0, schedule.Due(Now, ["app.t"], new Dictionary<string, DateTime>()).Count);
    }
}
