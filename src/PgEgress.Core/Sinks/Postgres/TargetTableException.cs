using Npgsql;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// Applying to one target table failed in a way that retrying will not cure (the table, a column or a type is missing,
/// the target refuses a value or a DDL statement): the sink sets that table aside and the others keep flowing.
/// </summary>
/// <param name="table">The table as schema.name, the source's and the target's.</param>
public sealed class TargetTableException(string table, string message, Exception? inner = null) : InvalidOperationException(message, inner)
{
    public string Table { get; } = table;

    /// <summary>
    /// Whether the target may take the same statements later: a lost connection (08), a serialization failure or deadlock
    /// (40), exhausted resources (53), a lock or object not available (55), an operator's intervention (57), a system or
    /// internal error (58, XX), a read-only target (25). Such a failure is retried; any other is the table's own.
    /// </summary>
    public static bool IsTransient(PostgresException e) => e.SqlState[..2] is "08" or "25" or "40" or "53" or "55" or "57" or "58" or "XX";
}
