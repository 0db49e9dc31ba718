using System.Diagnostics;
using PgEgress.Core.Pipeline;

namespace PgEgress.Tests.Pipeline;

public sealed class ShutdownBudgetTests
{
    [Fact]
    public async Task The_token_is_cancelled_two_thirds_of_the_shutdown_timeout_after_the_stopping_token_not_with_it()
    {
        using var stopping = new CancellationTokenSource();
        using var budget = new ShutdownBudget();
        budget.Start(stopping.Token, TimeSpan.FromMilliseconds(600));
        var expired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = budget.Token.Register(() => expired.SetResult());

        Assert.Equal(TimeSpan.FromMilliseconds(400), budget.Grace);
        var clock = Stopwatch.StartNew();
        await stopping.CancelAsync();
        Assert.False(budget.Token.IsCancellationRequested);

        await expired.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(390), $"the budget ran out {clock.Elapsed.TotalMilliseconds:0} ms after the stop");
    }

    [Fact]
    public void A_budget_starts_once_and_only_with_a_positive_shutdown_timeout()
    {
        using var budget = new ShutdownBudget();
        Assert.False(budget.Token.IsCancellationRequested);
        Assert.Throws<ArgumentOutOfRangeException>(() => budget.Start(CancellationToken.None, TimeSpan.Zero));
        budget.Start(CancellationToken.None, TimeSpan.FromSeconds(30));
        Assert.Throws<InvalidOperationException>(() => budget.Start(CancellationToken.None, TimeSpan.FromSeconds(30)));
    }
}
