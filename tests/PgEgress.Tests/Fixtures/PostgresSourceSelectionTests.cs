using PgEgress.Testing;

namespace PgEgress.Tests.Fixtures;

/// <summary>Which server a PostgresCluster uses: PGEGRESS_TEST_PG, then Docker, then initdb; no Docker needed.</summary>
public sealed class PostgresSourceSelectionTests
{
    private const string External = "Host=db.example;Username=postgres";

    [Theory]
    [InlineData(true, External, true, PostgresSource.External)]
    [InlineData(true, External, false, PostgresSource.External)]
    [InlineData(true, null, true, PostgresSource.Container)]
    [InlineData(true, "  ", true, PostgresSource.Container)]
    [InlineData(true, null, false, PostgresSource.Initdb)]
    [InlineData(false, External, true, PostgresSource.Initdb)]
    [InlineData(false, null, true, PostgresSource.Initdb)]
    public async Task Chooses_the_environment_first_then_a_reachable_Docker_engine_then_initdb(
        bool allowShared, string? external, bool dockerReachable, PostgresSource expected)
    {
        Assert.Equal(expected, await PostgresSourceSelection.ChooseAsync(allowShared, external, () => Task.FromResult(dockerReachable)));
    }

    [Theory]
    [InlineData(true, External)]
    [InlineData(false, External)]
    [InlineData(false, null)]
    public async Task Does_not_probe_Docker_when_the_environment_or_the_test_already_decided(bool allowShared, string? external)
    {
        var probes = 0;
        await PostgresSourceSelection.ChooseAsync(allowShared, external, () =>
        {
            probes++;
            return Task.FromResult(true);
        });
        Assert.Equal(0, probes);
    }

    [Fact]
    public async Task Options_that_need_an_own_cluster_without_AllowExternalServer_false_fail_before_any_server_is_chosen()
    {
        var failure = await Assert.ThrowsAsync<ArgumentException>(() =>
            PostgresCluster.StartAsync(new PostgresClusterOptions { WalLevel = "replica" }));
        Assert.Contains("AllowExternalServer = false", failure.Message);
    }
}
