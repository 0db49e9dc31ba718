using Npgsql;
using PgEgress.Core.Registry;
using PgEgress.Core.Storage;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Verification;

namespace PgEgress.Tests.Reload;

/// <summary>What the reload tests share: waiting for operations, a writer that keeps changing the tables, and the exact-rebuild check.</summary>
internal static class ReloadRig
{
    /// <summary>The Workload tables, and a larger one for CTID ranges.</summary>
    public const string BigTable = """
        CREATE TABLE app.big (id bigint PRIMARY KEY, k int NOT NULL, payload text, at timestamptz);
        """;

    public static string FillBig(long rows) =>
        $"INSERT INTO app.big SELECT g, g % 1000, md5(g::text) || ' ,\"' || g, '2026-01-01'::timestamptz + g * interval '1 s' FROM generate_series(1, {rows}) g";

    /// <summary>Polls the registry until every operation of <paramref name="slot"/> has finished (at least <paramref name="atLeast"/> of them); fails after the timeout.</summary>
    public static async Task<List<OperationRecord>> WaitForOperationsAsync(NpgsqlDataSource db, string slot, int atLeast, TimeSpan timeout)
    {
        var operations = new OperationStore(db);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var ops = await operations.GetRecentAsync(slot, 1000, default);
            if (ops.Count >= atLeast && ops.All(o => o.Finished)) return ops;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"operations of {slot} not finished after {timeout.TotalSeconds:0} s: " +
                            string.Join("; ", ops.Select(o => $"{o.Id} {o.Table} {o.State} attempts={o.Attempts} error={o.Error}")));
            await Task.Delay(100);
        }
    }

    /// <summary>Polls until <paramref name="sql"/> (a boolean query) is true; fails after the timeout, naming <paramref name="what"/>.</summary>
    public static async Task WaitUntilAsync(NpgsqlDataSource db, string what, string sql, TimeSpan timeout, params object[] args)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await ScalarAsync<bool>(db, sql, args))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"not true after {timeout.TotalSeconds:0} s: {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Runs Churn transactions (every Workload table) and, with <paramref name="big"/>, changes to app.big, until
    /// stopped; returns how many transactions it committed. Runs on its own connection from the pool.
    /// </summary>
    public static Task<int> WriteUntilAsync(NpgsqlDataSource db, int firstChurn, bool big, CancellationToken stop) => Task.Run(async () =>
    {
        var n = 0;
        var random = new Random(firstChurn);
        while (!stop.IsCancellationRequested)
        {
            await Churn.RunAsync(db, firstChurn + n, 1);
            if (big)
            {
                var id = random.Next(1, 2_000_000);
                await using var cmd = db.CreateCommand($"""
                    BEGIN;
                    INSERT INTO app.big VALUES ({3_000_000 + n}, {n}, 'new ' || {n}, now());
                    UPDATE app.big SET k = k + 1, payload = payload || '+' WHERE id = {id};
                    DELETE FROM app.big WHERE id = {id + 1};
                    COMMIT;
                    """);
                await cmd.ExecuteNonQueryAsync();
            }
            n++;
        }
        return n;
    });

    /// <summary>Rebuilds each table from its newest reload and the streaming files after it, and asserts it equals the source.</summary>
    public static async Task AssertRebuildsAsync(NpgsqlDataSource db, IObjectStore store, IEnumerable<string> tables, bool expectReload)
    {
        var verifier = new OutputVerifier(db, store);
        foreach (var table in tables)
        {
            var rebuild = await verifier.RebuildAsync("app", table);
            if (expectReload) Assert.True(rebuild.ReloadFiles > 0, $"app.{table}: no reload file");
            Assert.True(rebuild.Differences.Count == 0,
                $"app.{table} does not rebuild exactly ({rebuild.Files} file(s), {rebuild.Rows} row(s)):\n{string.Join("\n", rebuild.Differences.Select(d => d.Length > 300 ? d[..300] : d))}");
            Assert.True(rebuild.DuplicatePositions.Count == 0, $"app.{table}: (_lsn, _seq) in two rows:\n{string.Join("\n", rebuild.DuplicatePositions)}");
        }
    }

    public static async Task ExecAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        cmd.CommandTimeout = 300;
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlDataSource db, string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public static IEnumerable<string> AllTables(bool big) => big ? [.. Workload.Tables, "big"] : Workload.Tables;
}
