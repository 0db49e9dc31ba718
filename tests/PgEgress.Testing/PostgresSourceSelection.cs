namespace PgEgress.Testing;

/// <summary>Chooses a <see cref="PostgresSource"/>: <c>PGEGRESS_TEST_PG</c> first, then Docker, then initdb.</summary>
public static class PostgresSourceSelection
{
    /// <summary>
    /// A test that needs a cluster of its own (<paramref name="allowShared"/> false) always gets initdb. The Docker
    /// probe runs only when nothing before it decided, since it costs a connection attempt.
    /// </summary>
    public static async Task<PostgresSource> ChooseAsync(bool allowShared, string? externalConnectionString, Func<Task<bool>> dockerReachable)
    {
        ArgumentNullException.ThrowIfNull(dockerReachable);
        if (!allowShared) return PostgresSource.Initdb;
        if (!string.IsNullOrWhiteSpace(externalConnectionString)) return PostgresSource.External;
        return await dockerReachable().ConfigureAwait(false) ? PostgresSource.Container : PostgresSource.Initdb;
    }
}
