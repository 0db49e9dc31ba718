using System.Net.Sockets;
using Azure;
using Azure.Identity;
using Npgsql;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Pipeline;

/// <summary>
/// Tells a failure that the next attempt may not see (network, restart, timeout, resources, conflicts) from one that
/// only an operator cures (login refused, privilege missing, an object gone, a configuration mistake). Both are
/// retried; a permanent one backs off longer, is logged once and shows in /api/ready. Anything not known to be
/// permanent is transient, as every failure was before the distinction.
/// </summary>
public static class FailureClassifier
{
    /// <summary>The first retry delay of a permanent failure; it doubles up to the caller's cap.</summary>
    public static readonly TimeSpan PermanentFirstDelay = TimeSpan.FromSeconds(5);

    public static FailureKind Classify(Exception e)
    {
        foreach (var cause in Causes(e))
        {
            switch (cause)
            {
                case PostgresException p:
                    return ForSqlState(p.SqlState);
                case NpgsqlException or SocketException or TimeoutException or IOException:
                    return FailureKind.Transient;
                case HttpRequestException { StatusCode: { } status }:
                    return ForHttpStatus((int)status);
                case HttpRequestException:
                    return FailureKind.Transient;
                case RequestFailedException r:
                    return ForHttpStatus(r.Status);
                case AuthenticationFailedException or UnauthorizedAccessException or ConfigurationException:
                    return FailureKind.Permanent;
            }
        }
        // A setup check without a database error below it (wal_level, no REPLICATION, FOR ALL TABLES) waits for an operator.
        return Causes(e).Any(c => c is PipelineSetupException) ? FailureKind.Permanent : FailureKind.Transient;
    }

    /// <summary>
    /// Permanent: refused login (class 28), a database, schema or object that does not exist or a privilege that is
    /// missing (3D, 3F, 42: 42501, 42P01, 42704 …), an object not in the state it must be (55000: wal_level, a slot of
    /// another database). Everything else, among them connection loss (08), conflicts (40001, 40P01), resources (53),
    /// a slot in use (55006), shutdown (57P01), is transient.
    /// </summary>
    public static FailureKind ForSqlState(string sqlState) =>
        sqlState[..2] is "28" or "3D" or "3F" or "42" || sqlState == "55000" ? FailureKind.Permanent : FailureKind.Transient;

    /// <summary>401 and 403: the credentials are wrong or lack a right. Every other status (408, 429, 5xx …) is transient.</summary>
    public static FailureKind ForHttpStatus(int status) => status is 401 or 403 ? FailureKind.Permanent : FailureKind.Transient;

    /// <summary>PostgreSQL's SQLSTATE of the failure, when one is among its causes.</summary>
    public static string? SqlState(Exception e) => Causes(e).OfType<PostgresException>().FirstOrDefault()?.SqlState;

    /// <summary>"transient" or "permanent", as the API and the metric write it.</summary>
    public static string Label(FailureKind kind) => kind == FailureKind.Permanent ? "permanent" : "transient";

    /// <summary>The delay before attempt <paramref name="attempt"/> + 1 of a permanent failure: 5 s, doubling, at most <paramref name="max"/>.</summary>
    public static TimeSpan PermanentDelay(int attempt, TimeSpan max) =>
        TimeSpan.FromTicks(Math.Min(max.Ticks, PermanentFirstDelay.Ticks << Math.Clamp(attempt, 0, 16)));

    private static IEnumerable<Exception> Causes(Exception e)
    {
        for (Exception? c = e; c is not null; c = c is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : c.InnerException)
            yield return c;
    }
}
