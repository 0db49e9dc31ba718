namespace PgEgress.Testing;

/// <summary>Where a <see cref="PostgresCluster"/> gets its server from.</summary>
public enum PostgresSource
{
    /// <summary>The existing server named by <c>PGEGRESS_TEST_PG</c>.</summary>
    External,

    /// <summary>A throwaway Testcontainers.PostgreSql container on a reachable Docker engine.</summary>
    Container,

    /// <summary>A throwaway cluster of its own, started with initdb and pg_ctl.</summary>
    Initdb,
}
