using Microsoft.Extensions.Configuration;
using PgEgress.Core.Configuration;
using PgEgress.Functions.Orchestrations;

namespace PgEgress.Functions.Tests.Durable.InProcess;

/// <summary>PgEgress__Durable__*: bound like every setting, checked before the app starts, defaults as before they were settings.</summary>
public sealed class DurableTimingSettingsTests
{
    private static List<string> Errors(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(
            settings.Select(s => KeyValuePair.Create($"PgEgress:Durable:{s.Key}", (string?)s.Value)).Append(KeyValuePair.Create("PgEgress:Source:ConnectionString", (string?)"Host=x"))).Build();
        return OptionsValidator.Validate(OptionsBinding.Bind(configuration));
    }

    [Fact]
    public void The_defaults_are_the_timings_from_before()
    {
        Assert.Equal(new DurableTiming(6, TimeSpan.FromSeconds(5), 2.0, TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1)), DurableTiming.Default);
        Assert.Equal(TimeSpan.FromSeconds(15), new DurableOptions().ReloadIdleDelay);
        Assert.Equal(TimeSpan.FromSeconds(5), new DurableOptions().SinkIdleDelay);
        Assert.Empty(Errors());
    }

    [Fact]
    public void Out_of_range_timings_are_refused_naming_the_setting()
    {
        Assert.Equal(["PgEgress:Durable:RetryAttempts must be between 1 and 100 (got 0)"], Errors(("RetryAttempts", "0")));
        Assert.Equal(["PgEgress:Durable:RetryBackoffCoefficient must be between 1 and 10 (got 0.5)"], Errors(("RetryBackoffCoefficient", "0.5")));
        Assert.Equal(["PgEgress:Durable:FailureBackoff must be positive and at most 01:00:00 (got 00:00:00)"], Errors(("FailureBackoff", "00:00:00")));
        Assert.Equal(["PgEgress:Durable:SinkIdleDelay must be positive and at most 01:00:00 (got 02:00:00)"], Errors(("SinkIdleDelay", "02:00:00")));
        Assert.Equal(["PgEgress:Durable:RetryMaxInterval (00:00:01) must not be shorter than PgEgress:Durable:RetryFirstInterval (00:00:05)"],
            Errors(("RetryMaxInterval", "00:00:01")));
        var fast = Errors(("RetryAttempts", "3"), ("RetryFirstInterval", "00:00:00.100"), ("RetryMaxInterval", "00:00:01"), ("FailureBackoff", "00:00:02"));
        Assert.Empty(fast);
    }
}
