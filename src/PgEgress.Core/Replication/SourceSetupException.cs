namespace PgEgress.Core.Replication;

/// <summary>The source database cannot be used as configured; the message says what is wrong and how to fix it, in one line.</summary>
public sealed class SourceSetupException(string message, Exception? inner = null) : Exception(message, inner);
