namespace PgEgress.Tests.Pipeline;

/// <summary>
/// An initdb cluster of the test class's own where roles other than postgres need their password
/// (<see cref="PostgresClusterOptions.PasswordLogins"/>), so that a wrong one is refused as on a real server.
/// </summary>
public sealed class PasswordClusterFixture : IAsyncLifetime
{
    private PostgresCluster? _cluster;

    public PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    public async Task InitializeAsync() =>
        _cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false, PasswordLogins = true });

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }
}
