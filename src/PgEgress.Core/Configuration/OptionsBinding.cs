using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace PgEgress.Core.Configuration;

/// <summary>Reads the "PgEgress" section the same way in the Host and the Functions app.</summary>
public static class OptionsBinding
{
    /// <summary>
    /// Binds strictly: a value that does not convert (a sink's Kind=Kafka, Workers=four) or a key no option declares (a
    /// misspelt setting) is an <see cref="InvalidOperationException"/> naming it. The default binder would silently drop
    /// such a sink from <see cref="PgEgressOptions.Sinks"/>, or ignore the misspelt key.
    /// </summary>
    public static PgEgressOptions Bind(IConfiguration configuration)
    {
        var seconds = SinkTimeoutsInSeconds(configuration);
        var source = seconds.Count == 0 ? configuration
            : new ConfigurationBuilder().AddConfiguration(configuration).AddInMemoryCollection(seconds).Build();
        return source.GetSection(PgEgressOptions.SectionName).Get<PgEgressOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new PgEgressOptions();
    }

    /// <summary>
    /// A sink's Timeout given as a bare number ("30", the seeds' settings list) means seconds; as a TimeSpan "30" would be
    /// thirty days.
    /// </summary>
    private static Dictionary<string, string?> SinkTimeoutsInSeconds(IConfiguration configuration)
    {
        var seconds = new Dictionary<string, string?>();
        foreach (var sink in configuration.GetSection($"{PgEgressOptions.SectionName}:Sinks").GetChildren())
        {
            var timeout = sink.GetSection(nameof(SinkOptions.Timeout));
            if (timeout.Value is { } text && double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var s)
                && s <= TimeSpan.MaxValue.TotalSeconds)
                seconds[timeout.Path] = TimeSpan.FromSeconds(s).ToString("c", CultureInfo.InvariantCulture);
        }
        return seconds;
    }
}
