using PgEgress.Core.Configuration;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Clients;

/// <summary>
/// Wakes long-polls and notification streams when something new is staged. The ingest may run in another process (a
/// Functions activity on another instance), so it watches the registry: one query of the staged position every
/// <see cref="Interval"/>, or at once when this process registers a segment (<see cref="StagingSignal"/>), shared by
/// every waiter of the process, and only while someone waits.
/// </summary>
public sealed class StagedWatch(RegistryStore registry, PgEgressOptions options, StagingSignal staging, TimeProvider clock)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private Task<ulong>? _tick;

    /// <summary>Waits until the staged position is past <paramref name="lsn"/>: true, or false when <paramref name="timeout"/> ends first.</summary>
    public async Task<bool> WaitPastAsync(ulong lsn, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = clock.GetUtcNow() + timeout;
        while (true)
        {
            var remaining = deadline - clock.GetUtcNow();
            if (remaining <= TimeSpan.Zero) return false;
            Task<ulong> tick;
            lock (_gate) tick = _tick ??= TickAsync();
            try
            {
                if (await tick.WaitAsync(remaining, clock, ct) > lsn) return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    private async Task<ulong> TickAsync()
    {
        try
        {
            await staging.WaitAsync(Interval, CancellationToken.None);
            return await registry.GetStagedLsnAsync(options.Source.Slot, CancellationToken.None);
        }
        finally
        {
            lock (_gate) _tick = null;
        }
    }
}
