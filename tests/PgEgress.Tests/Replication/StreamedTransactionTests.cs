using Npgsql;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Verification;
using Xunit.Abstractions;

namespace PgEgress.Tests.Replication;

/// <summary>
/// Protocol 2 streaming: with logical_decoding_work_mem at its 64 kB minimum the walsender streams every transaction of
/// more than a few hundred rows in chunks while it is in progress. Only committed transactions may reach the files, whole
/// and in commit order; a rolled-back savepoint drops only its own rows; a stop while a transaction streams loses nothing.
/// Each test checks the server really streamed (pg_stat_replication_slots.stream_txns), so it cannot pass on protocol 1.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StreamedTransactionTests(PostgresFixture pg, ITestOutputHelper output)
{
    [Fact]
    public async Task A_savepoint_rolled_back_inside_a_streamed_transaction_drops_only_its_rows()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "stream_savepoint");
        await using var pipeline = await StartAsync(rig);
        await using (var conn = await rig.Db.OpenConnectionAsync())
        {
            await ExecAsync(conn, """
                BEGIN;
                INSERT INTO app.accounts SELECT g, 'before', g FROM generate_series(1, 5000) g;
                SAVEPOINT kept;
                INSERT INTO app.accounts SELECT g, 'released', g FROM generate_series(5001, 8000) g;
                RELEASE SAVEPOINT kept;
                SAVEPOINT outer_sp;
                INSERT INTO app.accounts SELECT g, 'rolled back', g FROM generate_series(100001, 105000) g;
                SAVEPOINT inner_sp;
                INSERT INTO app.accounts SELECT g, 'rolled back inner', g FROM generate_series(200001, 203000) g;
                ROLLBACK TO SAVEPOINT outer_sp;
                UPDATE app.accounts SET owner = 'updated after rollback' WHERE id <= 2000;
                INSERT INTO app.accounts SELECT g, 'after', g FROM generate_series(300001, 304000) g;
                COMMIT;
                """);
        }
        await pipeline.FlushAsync();

        Assert.True(await StreamedAsync(rig) > 0, "the server did not stream the transaction: the test showed nothing");
        await AssertRebuildsAsync(rig, "accounts");
        Assert.Equal(12_000, await rig.ScalarAsync<long>("SELECT count(*) FROM app.accounts"));
    }

    [Fact]
    public async Task Two_interleaved_streamed_transactions_reach_the_files_whole_in_commit_order_and_an_aborted_one_not_at_all()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "stream_interleaved");
        await using var pipeline = await StartAsync(rig);
        await using var a = await rig.Db.OpenConnectionAsync();
        await using var b = await rig.Db.OpenConnectionAsync();
        await using var c = await rig.Db.OpenConnectionAsync();
        await ExecAsync(a, "BEGIN");
        await ExecAsync(b, "BEGIN");
        await ExecAsync(c, "BEGIN");
        for (var round = 0; round < 4; round++)
        {
            await ExecAsync(a, $"INSERT INTO app.accounts SELECT g, 'a', g FROM generate_series({round * 3000 + 1}, {round * 3000 + 3000}) g");
            await ExecAsync(b, $"INSERT INTO app.accounts SELECT g, 'b', g FROM generate_series({100_000 + round * 3000 + 1}, {100_000 + round * 3000 + 3000}) g");
            await ExecAsync(c, $"INSERT INTO app.accounts SELECT g, 'c', g FROM generate_series({200_000 + round * 3000 + 1}, {200_000 + round * 3000 + 3000}) g");
        }
        await ExecAsync(b, "COMMIT"); // b commits first although a began first
        await ExecAsync(c, "ROLLBACK");
        await ExecAsync(a, "UPDATE app.accounts SET balance = -1 WHERE owner = 'b' AND id % 10 = 0"); // a's update comes after b's insert
        await ExecAsync(a, "COMMIT");
        await pipeline.FlushAsync();

        Assert.True(await StreamedAsync(rig) >= 2, "the server did not stream both transactions");
        await AssertRebuildsAsync(rig, "accounts");
        var verifier = new OutputVerifier(rig.Db, rig.Store);
        var rebuild = await verifier.RebuildAsync("app", "accounts");
        Assert.Equal(12_000 + 12_000 + 1_200, rebuild.Rows); // a's inserts, b's inserts, a's updates; none of c's
    }

    [Fact]
    public async Task A_stop_while_a_transaction_streams_loses_nothing_and_the_next_session_stages_it_once()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "stream_restart");
        await using var open = await rig.Db.OpenConnectionAsync();
        await using (var first = await StartAsync(rig))
        {
            await rig.ExecAsync("INSERT INTO app.accounts VALUES (0, 'before', 0)");
            await first.FlushAsync();
            await ExecAsync(open, "BEGIN");
            await ExecAsync(open, "INSERT INTO app.accounts SELECT g, 'open', g FROM generate_series(1, 20000) g");
            // The walsender has streamed part of the open transaction to this session before it stops.
            await WaitAsync(async () => await StreamedBytesAsync(rig) > 0, "the open transaction was never streamed");
        }
        await ExecAsync(open, "INSERT INTO app.accounts SELECT g, 'open, later', g FROM generate_series(20001, 25000) g");
        await ExecAsync(open, "COMMIT");
        await using (var second = await StartAsync(rig))
        {
            await second.FlushAsync();
        }

        await AssertRebuildsAsync(rig, "accounts");
        var rebuild = await new OutputVerifier(rig.Db, rig.Store).RebuildAsync("app", "accounts");
        Assert.Equal(25_001, rebuild.Rows);
        Assert.Empty(rebuild.DuplicatePositions);
    }

    [Fact]
    public async Task Streaming_off_reads_with_protocol_1_and_the_server_streams_nothing()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "stream_off");
        await using var pipeline = await StartAsync(rig, streaming: false);
        await rig.ExecAsync("INSERT INTO app.accounts SELECT g, 'big', g FROM generate_series(1, 20000) g");
        await pipeline.FlushAsync();

        Assert.Equal(0, await StreamedAsync(rig));
        await AssertRebuildsAsync(rig, "accounts");
    }

    private async Task<InProcessPipeline> StartAsync(DurabilityRig rig, bool streaming = true)
    {
        // The walsender reads its settings from the replication connection's startup options.
        var options = InProcessPipeline.DefaultOptions(rig.ConnectionString + ";Options=-c logical_decoding_work_mem=64kB", rig.Output);
        options.Source.Slot = rig.Slot;
        options.Source.Streaming = streaming;
        var pipeline = await InProcessPipeline.StartAsync(options);
        output.WriteLine($"pipeline on slot {rig.Slot}, streaming {(streaming ? "on" : "off")}");
        return pipeline;
    }

    private static async Task AssertRebuildsAsync(DurabilityRig rig, string table)
    {
        var rebuild = await new OutputVerifier(rig.Db, rig.Store).RebuildAsync("app", table);
        Assert.True(rebuild.Files > 0, $"app.{table}: no registered file");
        Assert.True(rebuild.Differences.Count == 0, $"app.{table} does not rebuild exactly:\n{string.Join("\n", rebuild.Differences.Take(20))}");
        Assert.Empty(rebuild.DuplicatePositions);
    }

    private static Task<long> StreamedAsync(DurabilityRig rig) =>
        rig.ScalarAsync<long>("SELECT coalesce(sum(stream_txns), 0)::bigint FROM pg_stat_replication_slots WHERE slot_name = $1", rig.Slot);

    private static Task<long> StreamedBytesAsync(DurabilityRig rig) =>
        rig.ScalarAsync<long>("SELECT coalesce(sum(stream_bytes), 0)::bigint FROM pg_stat_replication_slots WHERE slot_name = $1", rig.Slot);

    private static async Task ExecAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 300 };
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(50);
        }
    }
}
