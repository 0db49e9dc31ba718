namespace PgEgress.Core.Staging;

/// <summary>
/// Tells this process's consumers of the staged log that a segment was registered, so a sink that has caught up starts
/// on it at once instead of at its next poll. Consumers still poll: another process (a Functions instance) may stage.
/// </summary>
public sealed class StagingSignal
{
    private TaskCompletionSource _next = NewSource();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Registered() => Interlocked.Exchange(ref _next, NewSource()).SetResult();

    /// <summary>Returns when a segment is registered or <paramref name="timeout"/> has passed, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        var next = Volatile.Read(ref _next).Task;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        try
        {
            await next.WaitAsync(timer.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }
}
