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
    public static PgEgressOptions Bind(IConfiguration configuration) =>
        configuration.GetSection(PgEgressOptions.SectionName).Get<PgEgressOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new PgEgressOptions();
}
