using Microsoft.DurableTask;
using PgEgress.Core.Configuration;

namespace PgEgress.Functions.Orchestrations;

/// <summary>
/// The retry policy of an orchestration's activities and its pause after they gave up (PgEgress__Durable__*), carried in
/// the orchestration's input from its start, so every replay of a generation reads the same values whatever the
/// settings are by then. An input without them (an instance started before they existed) runs with <see cref="Default"/>.
/// </summary>
public sealed record DurableTiming(int RetryAttempts, TimeSpan RetryFirstInterval, double RetryBackoffCoefficient, TimeSpan RetryMaxInterval,
    TimeSpan FailureBackoff)
{
    /// <summary>The settings' defaults: 5 s, 10 s, 20 s, … capped at 2 min, six attempts; then a 1 min pause.</summary>
    public static DurableTiming Default { get; } = From(new DurableOptions());

    public static DurableTiming From(DurableOptions o) =>
        new(o.RetryAttempts, o.RetryFirstInterval, o.RetryBackoffCoefficient, o.RetryMaxInterval, o.FailureBackoff);

    /// <summary>
    /// A method, not a property: the record is serialized into orchestration inputs. A permanent failure
    /// (<see cref="PermanentFailureException"/>) is not retried here: the orchestration's longer pause comes at once.
    /// </summary>
    public TaskOptions ActivityRetry() => TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: RetryAttempts,
        firstRetryInterval: RetryFirstInterval,
        backoffCoefficient: RetryBackoffCoefficient,
        maxRetryInterval: RetryMaxInterval)
    {
        HandleFailure = failure => !PermanentFailureException.Caused(failure),
    });
}
