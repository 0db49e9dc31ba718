using Microsoft.Extensions.Logging;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Sinks.Postgres;

/// <summary>
/// Applies committed source transactions, one at a time in LSN order, to a target PostgreSQL database: each in one target
/// transaction that also moves the sink's cursor there, so a replayed transaction is skipped exactly and a failed one
/// leaves no trace. Rows stream through in batches; nothing holds a whole transaction. One apply at a time per instance.
/// </summary>
/// <param name="sourceIdentity">Reads which database the source is, to refuse a target that is the source itself.</param>
public sealed class PostgresTargetApplier(string sinkName, SinkOptions options, Func<CancellationToken, Task<DatabaseIdentity>> sourceIdentity,
    ILogger<PostgresTargetApplier> logger) : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db = DataSource(sinkName, options);
    private readonly Dictionary<(string Schema, string Table), TargetStatements> _tables = [];
    private bool _cursorReady;
    private bool _notSource;

    /// <summary>
    /// Refuses a target that is the source database itself, however it is reached: applying the stream there would feed every
    /// change back into the stream. Asked of both databases (system_identifier and name) before anything is written to the target.
    /// </summary>
    /// <exception cref="ConfigurationException">The target is the source.</exception>
    public async Task EnsureNotSourceAsync(CancellationToken ct)
    {
        if (_notSource) return;
        var source = await sourceIdentity(ct);
        if (await DatabaseIdentity.ReadAsync(_db, ct) == source)
            throw new ConfigurationException(
                $"{PgEgressOptions.SectionName}:Sinks:{sinkName}:ConnectionString points at the source database itself ({source}); use another database");
        _notSource = true;
    }

    /// <summary>
    /// The end LSN of the last source transaction applied to the target (0 when none): the target's own cursor,
    /// kept in the target in the same transaction as the changes, so a replayed range is skipped exactly.
    /// </summary>
    public async Task<ulong> GetAppliedLsnAsync(CancellationToken ct)
    {
        await EnsureCursorAsync(ct);
        await using var conn = await _db.OpenConnectionAsync(ct);
        return await SinkCursorTable.ReadAsync(conn, sinkName, forUpdate: false, ct);
    }

    /// <summary>
    /// Applies one source transaction (rows in order, enumerated once) in one target transaction that also sets the cursor
    /// to <see cref="TransactionInfo.EndLsn"/>. Returns false, changing nothing, when the target already has it.
    /// </summary>
    public async Task<bool> ApplyAsync(TransactionInfo txn, IEnumerable<ChangeRow> rows, CancellationToken ct)
    {
        await EnsureCursorAsync(ct);
        await using var conn = await _db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // The row lock makes a second process applying the same sink wait here, then see the transaction applied.
        if (txn.EndLsn <= await SinkCursorTable.ReadAsync(conn, sinkName, forUpdate: true, ct)) return false;

        await using var batch = new StatementBatch(conn, sinkName, txn.EndLsn);
        var count = 0;
        try
        {
            // A D waits for the next row: with an I of the same relation carrying unchanged TOAST values, the pair is a
            // key-changing update, and those values must move with the row rather than be lost.
            ChangeRow? heldDelete = null;
            foreach (var row in rows)
            {
                ct.ThrowIfCancellationRequested();
                count++;
                if (heldDelete is { } delete)
                {
                    heldDelete = null;
                    if (await TryMoveAsync(conn, batch, delete, row, ct)) continue;
                    await AddAsync(conn, batch, delete, ct);
                }
                if (row.Op == 'D') heldDelete = row;
                else await AddAsync(conn, batch, row, ct);
            }
            if (heldDelete is { } last) await AddAsync(conn, batch, last, ct);

            batch.Add(SinkCursorTable.Write(sinkName, txn.EndLsn));
            await batch.CommitAsync(tx, ct);
        }
        catch
        {
            // Tables created or altered in this transaction are gone with it: check them again next time.
            _tables.Clear();
            throw;
        }
        logger.LogDebug("Sink {Sink} applied the transaction ending at {Lsn}: {Rows} row(s)", sinkName, PgText.Lsn(txn.EndLsn), count);
        return true;
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    private async Task AddAsync(NpgsqlConnection conn, StatementBatch batch, ChangeRow row, CancellationToken ct)
    {
        var table = await TableAsync(conn, batch, row.Relation, ct);
        var statement = row.Op switch
        {
            'I' => table.Upsert(row.Values!),
            // With the whole row as key (REPLICA IDENTITY FULL, old row sent), ChangeRows turns any real change into D + I;
            // a U is an update that changed nothing.
            'U' => table.HasRealKey ? table.Upsert(row.Values!) : null,
            'D' => table.Delete,
            'T' => table.Truncate,
            _ => throw new InvalidOperationException($"Sink '{sinkName}': unknown operation '{row.Op}' on {row.Relation.QualifiedName}"),
        };
        if (statement is not null) await batch.AddAsync(statement, row.Relation, row.Op, row.Values, null, ct);
    }

    private async Task<bool> TryMoveAsync(NpgsqlConnection conn, StatementBatch batch, ChangeRow delete, ChangeRow insert, CancellationToken ct)
    {
        if (insert.Op != 'I' || insert.Relation != delete.Relation || !TargetStatements.HasUnchanged(insert.Values!)) return false;
        var table = await TableAsync(conn, batch, insert.Relation, ct);
        if (!table.HasRealKey) return false;
        await batch.AddAsync(table.Move(insert.Values!), insert.Relation, 'U', insert.Values, delete.Values, ct);
        await batch.AddAsync(table.Upsert(insert.Values!), insert.Relation, 'I', insert.Values, null, ct);
        await batch.AddAsync(table.Delete, insert.Relation, 'D', delete.Values, null, ct);
        return true;
    }

    /// <summary>The statements for the relation's current shape, its target table checked (or created) on first sight and after a change.</summary>
    private async Task<TargetStatements> TableAsync(NpgsqlConnection conn, StatementBatch batch, RelationSchema relation, CancellationToken ct)
    {
        var key = (relation.Namespace, relation.Name);
        if (_tables.TryGetValue(key, out var known) && (ReferenceEquals(known.Relation, relation) || known.Fingerprint == relation.Fingerprint))
            return known;
        // The statements before belong before any DDL.
        await batch.FlushAsync(ct);
        var statements = new TargetStatements(relation, await TargetTableSetup.PrepareAsync(conn, sinkName, options.CreateTables, relation, logger, ct));
        _tables[key] = statements;
        return statements;
    }

    private async Task EnsureCursorAsync(CancellationToken ct)
    {
        if (_cursorReady) return;
        await EnsureNotSourceAsync(ct);
        await SinkCursorTable.EnsureAsync(_db, sinkName, ct);
        _cursorReady = true;
    }

    private static NpgsqlDataSource DataSource(string sinkName, SinkOptions options)
    {
        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= $"pgegress-sink-{sinkName}";
        // The same few statements run for every row: prepared once per connection, they apply about three times faster.
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0) builder.ConnectionStringBuilder.MaxAutoPrepare = 32;
        return builder.Build();
    }
}
