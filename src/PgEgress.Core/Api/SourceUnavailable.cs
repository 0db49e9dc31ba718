using Npgsql;

namespace PgEgress.Core.Api;

/// <summary>
/// Tells a source database that cannot be reached or is shutting down (answered 503, the client may retry) from a
/// failure of PgEgress itself (500). The reason is PostgreSQL's message or the network's: never the connection string.
/// </summary>
public static class SourceUnavailable
{
    /// <summary>
    /// Npgsql's own failures (connect, read, timeout) and PostgreSQL's SQLSTATE classes 08 (connection), 53
    /// (insufficient resources: too many connections), 57 (operator intervention: shutdown, recovery), and the login
    /// refused (28) or the database gone (3D) since the start: the reason says so, and /api/ready names it as permanent.
    /// </summary>
    public static bool Matches(Exception e) => e switch
    {
        PostgresException p => p.SqlState[..2] is "08" or "53" or "57" or "28" or "3D",
        NpgsqlException => true,
        _ => false,
    };

    public static ApiReply Reply(Exception e) => ApiReply.Fail(503, "the source database is unavailable: " +
        (e is PostgresException p ? p.MessageText : e.InnerException?.Message ?? e.Message));
}
