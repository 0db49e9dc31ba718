using PgEgress.Core.Configuration;
using PgEgress.Tests.Pipeline;

namespace PgEgress.Tests.Replication;

public sealed class ActivityBudgetOptionTests
{
    [Theory]
    [InlineData("00:00:00", "must be positive")]
    [InlineData("-00:00:01", "must be positive")]
    [InlineData("00:10:01", "must be at most 00:10:00")]
    public void An_activity_budget_outside_its_range_is_refused_naming_the_setting(string budget, string problem)
    {
        var options = Valid();
        options.Slice.ActivityBudget = TimeSpan.Parse(budget);

        var error = Assert.Single(OptionsValidator.Validate(options));
        Assert.StartsWith("PgEgress:Slice:ActivityBudget", error);
        Assert.Contains(problem, error);
    }

    /// <summary>The Host's slices may be as long as a batch window, and it never reads the budget: no rule ties the two.</summary>
    [Fact]
    public void A_budget_shorter_than_a_slice_is_valid()
    {
        var options = Valid();
        options.Slice.MaxDuration = TimeSpan.FromMinutes(5);
        Assert.Empty(OptionsValidator.Validate(options));
    }

    [Fact]
    public void The_default_activity_budget_is_valid_and_holds_many_default_slices()
    {
        var options = Valid();
        Assert.Empty(OptionsValidator.Validate(options));
        Assert.True(options.Slice.ActivityBudget >= 10 * options.Slice.MaxDuration, $"{options.Slice.ActivityBudget} for slices of {options.Slice.MaxDuration}");
    }

    private static PgEgressOptions Valid()
    {
        var options = InProcessPipeline.DefaultOptions("Host=localhost;Database=budget", Path.GetTempPath());
        options.Slice = new SliceOptions();
        return options;
    }
}
