namespace PgEgress.Core.Pipeline;

/// <summary>
/// The token for the steps a shutdown must not tear (a flush's upload and registration, a segment's registration, a
/// reload's completion, an advisory unlock): not cancelled when the host starts stopping, but <see cref="Grace"/>
/// later, so a step that hangs (a store or database that stopped answering) cannot keep the process from exiting.
/// One per process, started on the host's stopping token; until then (and in a process that never starts it) the
/// token is never cancelled.
/// </summary>
public sealed class ShutdownBudget : IDisposable
{
    private readonly CancellationTokenSource _expired = new();
    private CancellationTokenRegistration _start;

    /// <summary>How long after the stopping token the budget runs out; zero until <see cref="Start"/>.</summary>
    public TimeSpan Grace { get; private set; }

    /// <summary>Cancelled <see cref="Grace"/> after the host's stopping token.</summary>
    public CancellationToken Token => _expired.Token;

    /// <summary>
    /// Starts the budget on the host's stopping token. The grace is two thirds of the host's shutdown timeout
    /// (HostOptions.ShutdownTimeout): the rest is left for the cancelled steps to unwind and the host to stop
    /// its services in order, before it gives up waiting for them.
    /// </summary>
    public void Start(CancellationToken stopping, TimeSpan shutdownTimeout)
    {
        if (shutdownTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(shutdownTimeout), shutdownTimeout, "the host's shutdown timeout must be positive");
        if (Grace != TimeSpan.Zero) throw new InvalidOperationException("the shutdown budget was already started");
        Grace = shutdownTimeout * 2 / 3;
        _start = stopping.Register(() => _expired.CancelAfter(Grace));
    }

    public void Dispose()
    {
        _start.Dispose();
        _expired.Dispose();
    }
}
