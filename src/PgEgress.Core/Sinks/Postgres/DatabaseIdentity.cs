using Npgsql;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// Which database a connection reaches, whatever its connection string says (127.0.0.1, localhost, a socket, a DNS alias):
/// the cluster's system_identifier (pg_control_system(), the same for a server and its physical replicas) and the database's name.
/// </summary>
public sealed record DatabaseIdentity(long SystemIdentifier, string Database)
{
    public static async Task<DatabaseIdentity> ReadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT system_identifier, current_database()::text FROM pg_control_system()");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new DatabaseIdentity(r.GetInt64(0), r.GetString(1));
    }

    public override string ToString() => $"database {Database} of the server with system_identifier {SystemIdentifier}";
}
