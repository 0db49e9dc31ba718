using Xunit;

namespace PgEgress.Testing;

/// <summary>
/// One PostgreSQL cluster shared by the test classes of the "postgres" collection. Each class (or test) isolates
/// itself in its own database from <see cref="CreateUniqueDatabaseAsync"/>. Replication slots are cluster-wide, so
/// give them unique names too.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresCluster? _cluster;

    public PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The PostgreSQL fixture is not initialised.");

    public string ConnectionString => Cluster.ConnectionString;

    public async Task InitializeAsync() => _cluster = await PostgresCluster.StartAsync();

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }

    /// <summary>
    /// Creates a database named <paramref name="prefix"/> plus a random suffix (unique across test classes and across
    /// runs against a shared PGEGRESS_TEST_PG server) and returns its connection string.
    /// </summary>
    public Task<string> CreateUniqueDatabaseAsync(string prefix)
    {
        // PostgreSQL truncates identifiers at 63 bytes; keep room for the suffix.
        var stem = prefix.ToLowerInvariant();
        if (stem.Length > 50) stem = stem[..50];
        return Cluster.CreateDatabaseAsync($"{stem}_{Guid.NewGuid():N}"[..(stem.Length + 13)]);
    }
}
