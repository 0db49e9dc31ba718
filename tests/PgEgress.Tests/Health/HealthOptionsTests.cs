using PgEgress.Core.Configuration;

namespace PgEgress.Tests.Health;

/// <summary>Health:MaxLag and Health:MaxLagBytes: off by default, a negative value is a configuration error naming the setting.</summary>
public sealed class HealthOptionsTests
{
    private static PgEgressOptions Options(Action<HealthOptions> set)
    {
        var options = new PgEgressOptions { Source = { ConnectionString = "Host=127.0.0.1;Database=app" } };
        set(options.Health);
        return options;
    }

    [Fact]
    public void Off_by_default_and_positive_thresholds_pass()
    {
        Assert.Equal((TimeSpan.Zero, 0L), (new HealthOptions().MaxLag, new HealthOptions().MaxLagBytes));
        Assert.Empty(OptionsValidator.Validate(Options(h => (h.MaxLag, h.MaxLagBytes) = (TimeSpan.FromMinutes(10), 1L << 30))));
    }

    [Fact]
    public void Negative_thresholds_are_refused_by_name()
    {
        var errors = OptionsValidator.Validate(Options(h => (h.MaxLag, h.MaxLagBytes) = (TimeSpan.FromSeconds(-1), -1)));
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("PgEgress:Health:MaxLag must not be negative", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgEgress:Health:MaxLagBytes must not be negative", StringComparison.Ordinal));
    }

    [Fact]
    public void Verification_settings_are_checked_by_name()
    {
        Assert.Empty(OptionsValidator.Validate(Options(h => (h.VerifyInterval, h.VerifyWindowStart, h.VerifyWindowEnd, h.RepairMaxFraction) =
            (TimeSpan.FromHours(6), TimeSpan.FromHours(22), TimeSpan.FromHours(4), 0.5))));
        var errors = OptionsValidator.Validate(Options(h => (h.VerifyInterval, h.VerifyWindowStart, h.VerifyWindowEnd, h.RepairMaxFraction) =
            (TimeSpan.FromSeconds(5), TimeSpan.FromHours(24), TimeSpan.FromHours(-1), 0)));
        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("PgEgress:Health:VerifyInterval must be at least 00:01:00", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgEgress:Health:VerifyWindowStart must be a UTC time of day", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgEgress:Health:VerifyWindowEnd must be a UTC time of day", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgEgress:Health:RepairMaxFraction must be above 0", StringComparison.Ordinal));
    }
}
