using PgEgress.Core.Metrics;
using PgEgress.Core.Pipeline;

namespace PgEgress.Core.Health;

/// <summary>
/// Which components of this process are failing now, and how (for /api/ready, /api/status and the errors metric).
/// A component's entry lives from its first failed attempt to its next success.
/// </summary>
public sealed class ComponentFailures(PgEgressMeter meter, TimeProvider clock)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ComponentFailure> _current = new(StringComparer.Ordinal);

    /// <summary>Records a failed attempt of <paramref name="component"/>.</summary>
    /// <param name="message">What to show; the exception's message when null.</param>
    /// <returns>The failure as recorded, and whether it differs from the component's previous one (kind, SQLSTATE or message): worth a log line.</returns>
    public (ComponentFailure Failure, bool Changed) Failed(string component, Exception e, string? message = null) =>
        Failed(component, FailureClassifier.Classify(e), FailureClassifier.SqlState(e), message ?? e.Message);

    /// <inheritdoc cref="Failed(string, Exception, string?)"/>
    public (ComponentFailure Failure, bool Changed) Failed(string component, FailureKind kind, string? sqlState, string message)
    {
        var label = FailureClassifier.Label(kind);
        var now = clock.GetUtcNow().UtcDateTime;
        (ComponentFailure, bool) result;
        lock (_gate)
        {
            var before = _current.GetValueOrDefault(component);
            var failure = before is null
                ? new ComponentFailure(component, label, sqlState, message, now, now, 1)
                : before with { Kind = label, SqlState = sqlState, Message = message, LastAt = now, Attempts = before.Attempts + 1 };
            _current[component] = failure;
            result = (failure, before is null || before.Kind != label || before.SqlState != sqlState || before.Message != message);
        }
        meter.Error(component.Split(':')[0], label);
        return result;
    }

    /// <summary>The component works again: its failure, if any, is over.</summary>
    public void Succeeded(string component)
    {
        lock (_gate) _current.Remove(component);
    }

    public ComponentFailure? For(string component)
    {
        lock (_gate) return _current.GetValueOrDefault(component);
    }

    /// <summary>Every current failure, by component.</summary>
    public IReadOnlyList<ComponentFailure> Current()
    {
        lock (_gate) return [.. _current.Values.OrderBy(f => f.Component, StringComparer.Ordinal)];
    }
}
