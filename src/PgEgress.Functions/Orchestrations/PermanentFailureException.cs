using PgEgress.Core.Pipeline;

namespace PgEgress.Functions.Orchestrations;

/// <summary>
/// An activity's failure that only an operator cures (<see cref="FailureClassifier"/>), carrying the original as its
/// inner exception. Its type name reaches the orchestrator in <c>TaskFailureDetails.ErrorType</c>, so the retry policy
/// does not spend its quick attempts on it (the orchestration's longer pause follows at once) and the orchestration's
/// state can say the failure is permanent.
/// </summary>
public sealed class PermanentFailureException(Exception inner) : Exception(inner.Message, inner)
{
    /// <summary>Whether an activity failure seen by an orchestrator was a permanent one: a comparison of names, deterministic on replay.</summary>
    public static bool Caused(Microsoft.DurableTask.TaskFailureDetails? failure) => failure?.ErrorType == typeof(PermanentFailureException).FullName;

    /// <summary>For an activity's catch: <c>if (For(e) is { } p) throw p; throw;</c>.</summary>
    public static PermanentFailureException? For(Exception e) =>
        FailureClassifier.Classify(e) == FailureKind.Permanent ? new PermanentFailureException(e) : null;
}
