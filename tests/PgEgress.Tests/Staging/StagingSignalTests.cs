using System.Diagnostics;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Staging;

/// <summary>A caught-up consumer's wait ends when this process registers a segment, not at its poll interval.</summary>
public sealed class StagingSignalTests
{
    [Fact]
    public async Task A_registered_segment_ends_the_wait_at_once()
    {
        var signal = new StagingSignal();
        var clock = Stopwatch.StartNew();
        var wait = signal.WaitAsync(TimeSpan.FromSeconds(30), default);
        Assert.False(wait.IsCompleted);
        signal.Registered();
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the wait took {clock.Elapsed} after the segment registered");
    }

    [Fact]
    public async Task Without_one_the_wait_lasts_its_timeout_and_a_cancellation_ends_it()
    {
        var signal = new StagingSignal();
        var clock = Stopwatch.StartNew();
        await signal.WaitAsync(TimeSpan.FromMilliseconds(200), default);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(190), $"the wait ended after {clock.Elapsed}, before its 200 ms");

        using var cancel = new CancellationTokenSource();
        var cancelled = signal.WaitAsync(TimeSpan.FromSeconds(30), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
    }
}
