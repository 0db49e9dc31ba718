namespace PgEgress.Core.Pipeline;

/// <summary>The pipeline cannot start as configured (source or store); the message says what is wrong and how to fix it, in one line.</summary>
public sealed class PipelineSetupException(string message, Exception? inner = null) : Exception(message, inner);
