using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks.Postgres;
using PgEgress.Core.Staging;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.Sinks.Postgres;

/// <summary>
/// A source-shaped database (where the tables are described exactly as the stream describes them) and an empty target
/// database that appliers write to.
/// </summary>
internal sealed class TargetRig : IAsyncDisposable
{
    public const string Sink = "mirror";

    private readonly List<PostgresTargetApplier> _appliers = [];

    private TargetRig(NpgsqlDataSource source, string targetConnectionString)
    {
        Source = source;
        TargetConnectionString = targetConnectionString;
        Target = NpgsqlDataSource.Create(targetConnectionString);
    }

    public NpgsqlDataSource Source { get; }

    public NpgsqlDataSource Target { get; }

    public string TargetConnectionString { get; }

    public static async Task<TargetRig> StartAsync(PostgresFixture pg, string sourceSchema)
    {
        var source = NpgsqlDataSource.Create(await pg.CreateUniqueDatabaseAsync("sink_source"));
        await using (var cmd = source.CreateCommand(sourceSchema)) await cmd.ExecuteNonQueryAsync();
        return new TargetRig(source, await pg.CreateUniqueDatabaseAsync("sink_target"));
    }

    /// <param name="target">Another connection string for the target than the rig's own.</param>
    public PostgresTargetApplier Applier(bool createTables = false, string sink = Sink, string? target = null)
    {
        var applier = new PostgresTargetApplier(sink, new SinkOptions { Kind = SinkKind.Postgres, ConnectionString = target ?? TargetConnectionString, CreateTables = createTables },
            ct => DatabaseIdentity.ReadAsync(Source, ct), NullLogger<PostgresTargetApplier>.Instance);
        _appliers.Add(applier);
        return applier;
    }

    /// <summary>The source table as the stream describes it: format_type names, nullability, key.</summary>
    public async Task<RelationSchema> DescribeAsync(string table)
    {
        await using var conn = await Source.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("SELECT $1::regclass::oid", conn) { Parameters = { new() { Value = table } } };
        return await RelationCatalog.DescribeTableAsync(conn, (uint)(await cmd.ExecuteScalarAsync())!, CancellationToken.None);
    }

    public async Task ExecTargetAsync(string sql)
    {
        await using var cmd = Target.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>The target's rows for a query, each column as read by Npgsql (DBNull as null).</summary>
    public async Task<List<object?[]>> QueryTargetAsync(string sql)
    {
        await using var cmd = Target.CreateCommand(sql);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await r.ReadAsync())
        {
            var row = new object?[r.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public async Task<long> CountTargetAsync(string table) => (long)(await QueryTargetAsync($"SELECT count(*) FROM {table}"))[0][0]!;

    public static TransactionInfo Txn(ulong endLsn) => new(endLsn, endLsn - 8, (uint)endLsn, DateTime.UtcNow);

    /// <summary>A row as PostgreSQL prints it: each value its text output in UTF-8, null for NULL.</summary>
    public static TupleValue[] Row(params string?[] values) =>
        values.Select(v => v is null ? TupleValue.Null : new TupleValue(ValueKind.Text, Encoding.UTF8.GetBytes(v))).ToArray();

    public async ValueTask DisposeAsync()
    {
        foreach (var applier in _appliers) await applier.DisposeAsync();
        await Target.DisposeAsync();
        await Source.DisposeAsync();
    }
}
