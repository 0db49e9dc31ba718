namespace PgEgress.Core.Registry;

/// <summary>The answer to a reload request: the operation (new, or the one already under way), or why there is none.</summary>
public sealed record ReloadRequest(ReloadRequestOutcome Outcome, string? Problem, OperationRecord? Operation, bool Created)
{
    public static ReloadRequest Accepted(OperationRecord op, bool created) => new(ReloadRequestOutcome.Accepted, null, op, created);
    public static ReloadRequest NotFound(string problem) => new(ReloadRequestOutcome.NotFound, problem, null, false);
    public static ReloadRequest Conflict(string problem) => new(ReloadRequestOutcome.NotPublished, problem, null, false);
}

public enum ReloadRequestOutcome
{
    Accepted,
    NotFound,
    NotPublished,
}
