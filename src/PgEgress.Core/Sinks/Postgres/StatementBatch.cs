using System.Text;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// Statements of one target transaction, sent a few hundred at a time in one round trip. A statement the target rejects
/// becomes an error naming the sink, the transaction and the table it was applying to.
/// </summary>
internal sealed class StatementBatch(NpgsqlConnection connection, string sinkName, ulong endLsn) : IAsyncDisposable
{
    public const int Capacity = 500;

    private readonly NpgsqlBatch _batch = new(connection);
    private readonly List<(RelationSchema? Relation, char Op)> _targets = [];

    /// <summary>Adds a statement applying a row (<paramref name="op"/>) of <paramref name="relation"/>, and sends the batch when full.</summary>
    public async Task AddAsync(TargetStatement statement, RelationSchema relation, char op, TupleValue[]? row, TupleValue[]? oldRow, CancellationToken ct)
    {
        var command = new NpgsqlBatchCommand(statement.Sql);
        foreach (var c in statement.Columns) command.Parameters.Add(Text(row!, c, relation));
        foreach (var c in statement.OldKeyColumns ?? []) command.Parameters.Add(Text(oldRow!, c, relation));
        _batch.BatchCommands.Add(command);
        _targets.Add((relation, op));
        if (_batch.BatchCommands.Count >= Capacity) await FlushAsync(ct);
    }

    /// <summary>Adds the statement that moves the sink's cursor.</summary>
    public void Add(NpgsqlBatchCommand cursorWrite)
    {
        _batch.BatchCommands.Add(cursorWrite);
        _targets.Add((null, ' '));
    }

    public async Task FlushAsync(CancellationToken ct)
    {
        if (_batch.BatchCommands.Count == 0) return;
        try
        {
            await _batch.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e)
        {
            var failed = FailedIndex(e);
            if (failed < 0) throw Failure(e, ReportedTable(e), null);
            throw _targets[failed] is ({ } relation, var op)
                ? Failure(e, relation.QualifiedName, $"table {relation.QualifiedName} ({op})")
                : Failure(e, null, $"the cursor {SinkCursorTable.Name}");
        }
        _batch.BatchCommands.Clear();
        _targets.Clear();
    }

    /// <summary>Sends the rest and commits; a deferred constraint that fails at commit is reported like a statement.</summary>
    public async Task CommitAsync(NpgsqlTransaction transaction, CancellationToken ct)
    {
        await FlushAsync(ct);
        try
        {
            await transaction.CommitAsync(ct);
        }
        catch (PostgresException e)
        {
            throw Failure(e, ReportedTable(e), null);
        }
    }

    /// <param name="table">The table the failed statement applied to, when one did: a failure that is not transient is that table's own.</param>
    private InvalidOperationException Failure(PostgresException e, string? table, string? target)
    {
        target ??= table is null ? "commit" : $"table {table}";
        var message = $"Sink '{sinkName}': applying the transaction ending at {PgText.Lsn(endLsn)} failed on {target}: {e.MessageText}";
        return table is not null && !TargetTableException.IsTransient(e) ? new TargetTableException(table, message, e) : new InvalidOperationException(message, e);
    }

    private static string? ReportedTable(PostgresException e) => e.TableName is { } table ? $"{e.SchemaName}.{table}" : null;

    // Npgsql leaves PostgresException.BatchCommand unset for a batch; the failed statement is the first not completed.
    private int FailedIndex(PostgresException e)
    {
        var commands = _batch.BatchCommands;
        if (e.BatchCommand is { } known) return commands.IndexOf(known);
        for (var i = 0; i < commands.Count; i++)
            if (commands[i].StatementType == StatementType.Unknown) return i;
        return -1;
    }

    public ValueTask DisposeAsync() => _batch.DisposeAsync();

    private NpgsqlParameter Text(TupleValue[] row, int column, RelationSchema relation)
    {
        var value = row[column];
        if (value.Kind == ValueKind.UnchangedToast)
            throw new TargetTableException(relation.QualifiedName,
                $"Sink '{sinkName}': a row of table {relation.QualifiedName} has an unchanged TOAST value in {relation.Columns[column].Name}, where the statement needs the value");
        return new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Text,
            Value = value.Kind == ValueKind.Text ? Encoding.UTF8.GetString(value.Text!) : DBNull.Value,
        };
    }
}
