namespace PgEgress.Core.Configuration;

/// <summary>A setting that only proves wrong once PgEgress reaches what it names (a sink's target that is the source); the message names the setting.</summary>
public sealed class ConfigurationException(string message) : Exception(message);
