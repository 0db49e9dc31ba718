namespace PgEgress.Core.Pipeline;

/// <summary>Whether retrying a failure can cure it by itself (see <see cref="FailureClassifier"/>).</summary>
public enum FailureKind
{
    /// <summary>The network, a restart, a timeout, exhausted resources, a conflict: the next attempt may pass.</summary>
    Transient,

    /// <summary>Refused login, missing privilege, missing object, a configuration mistake: an operator has to act.</summary>
    Permanent,
}
