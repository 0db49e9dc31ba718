using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Diagnostics;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Durability;

/// <summary>
/// A hard kill at any point of a slice or a flush loses nothing and duplicates nothing: after a restart and a forced
/// flush, every table rebuilds exactly from the registered files and no (_lsn, _seq) position is in two files.
/// The host runs as a real process and is killed with SIGKILL (by itself at a named <see cref="CrashPoint"/>, or
/// from outside), so no shutdown code runs.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class CrashRecoveryTests(PostgresFixture pg, ITestOutputHelper output)
{
    private const int SigKillExitCode = 128 + 9;
    private static readonly TimeSpan CrashDeadline = TimeSpan.FromSeconds(90);

    public static TheoryData<string> CrashPoints =>
    [
        CrashPoint.MidTransaction,
        CrashPoint.SegmentUploaded,
        CrashPoint.SegmentRegistered,
        CrashPoint.FlushFilesWritten,
        CrashPoint.FlushRegistered,
    ];

    [Theory]
    [MemberData(nameof(CrashPoints))]
    public async Task Host_killed_at_a_crash_point_restarts_and_rebuilds_every_table_exactly(string point)
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "crash_" + point.Replace('-', '_'));
        var flushPoint = point.StartsWith("flush-", StringComparison.Ordinal);
        var clock = Stopwatch.StartNew();

        var next = 0;
        await using (var host = await rig.StartHostAsync(crashAt: point))
        {
            await Workload.RunAsync(rig.Db);
            Task<HttpResponseMessage>? flush = null;
            var deadline = DateTime.UtcNow + CrashDeadline;
            // Keep writing (and, for the flush points, keep a forced flush in flight) until the host kills itself.
            while (!host.HasExited)
            {
                Assert.True(DateTime.UtcNow < deadline,
                    $"the host never reached crash point {point} within {CrashDeadline.TotalSeconds:0} s; it is still running. Log tail:\n{DurabilityRig.Tail(host)}");
                await Churn.RunAsync(rig.Db, next++, 1);
                if (flushPoint && next >= 3 && (flush is null || flush.IsCompleted))
                {
                    if (flush is { IsCompletedSuccessfully: true }) (await flush).Dispose();
                    flush = DurabilityRig.SendFlushAsync(host);
                }
                await Task.Delay(20); // paces the writes of this poll loop (its condition is the host's exit)
            }
            var code = await host.WaitExitAsync(TimeSpan.FromSeconds(10));
            Assert.True(code == SigKillExitCode,
                $"the host exited with {code}, not by SIGKILL at {point}; stderr: {host.StandardError}\n{DurabilityRig.Tail(host)}");
            if (flush is not null)
            {
                try { (await flush).Dispose(); }
                catch (HttpRequestException) { } // the host died under the request, as intended
            }
            output.WriteLine($"{point}: host killed itself after {clock.Elapsed.TotalSeconds:0.0} s and {next} churn transaction(s)");
        }

        await AssertDiedAtAsync(rig, point);

        // The source keeps changing while the host is down.
        await Churn.RunAsync(rig.Db, next, 20);
        next += 20;

        await using (var host = await rig.StartHostAsync())
        {
            await Churn.RunAsync(rig.Db, next, 20);
            var flushed = await DurabilityRig.FlushAsync(host);
            output.WriteLine($"after restart: flush registered {flushed.GetProperty("files").GetArrayLength()} file(s)");
            await rig.VerifyEveryTableAsync();
            await rig.AssertRegisteredObjectsIntactAsync(await rig.RegisteredFilesAsync());
            await rig.AssertRegisteredObjectsIntactAsync(await rig.RegisteredSegmentsAsync());
        }
        output.WriteLine($"{point}: recovered and verified in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>What each crash point leaves behind, so the test proves the process died exactly there.</summary>
    private static async Task AssertDiedAtAsync(DurabilityRig rig, string point)
    {
        var segments = (await rig.RegisteredSegmentsAsync()).Select(s => s.Path).ToHashSet();
        var files = (await rig.RegisteredFilesAsync()).Select(f => f.Path).ToHashSet();
        var onDisk = rig.OutputFiles();
        switch (point)
        {
            case CrashPoint.SegmentUploaded:
                // Uploaded, not registered: an object under _staging/ that the registry does not know.
                Assert.Contains(onDisk, p => p.StartsWith($"_staging/{rig.Slot}/", StringComparison.Ordinal) && !segments.Contains(p));
                break;
            case CrashPoint.SegmentRegistered:
            {
                // Registered, not acknowledged: the slot is behind the last registered segment.
                var staged = await rig.ScalarAsync<NpgsqlLogSequenceNumber>(
                    "SELECT max(end_lsn) FROM cdc_registry.segments WHERE slot = $1", rig.Slot);
                Assert.True((ulong)staged > await rig.ConfirmedFlushLsnAsync(), "the slot was acknowledged past the last registered segment");
                break;
            }
            case CrashPoint.FlushFilesWritten:
                // Written, not registered: batch files on disk, none in file_log.
                Assert.Empty(files);
                Assert.Contains(onDisk, p => p.EndsWith(".csv.gz", StringComparison.Ordinal));
                break;
            case CrashPoint.FlushRegistered:
            {
                // Registered, segments not yet deleted: the flush cursor is past segments that still exist.
                Assert.NotEmpty(files);
                var passed = await rig.ScalarAsync<long>("""
                    SELECT count(*) FROM cdc_registry.segments s JOIN cdc_registry.cursors c USING (slot)
                    WHERE s.slot = $1 AND c.consumer = 'flush' AND s.end_lsn <= c.lsn
                    """, rig.Slot);
                Assert.True(passed > 0, "no registered segment is behind the flush cursor: the segments were already deleted");
                break;
            }
            case CrashPoint.MidTransaction:
                // Nothing durable happens at this point; SIGKILL as the exit status is the proof (only a crash point kills itself).
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(point), point, null);
        }
    }

    [Fact]
    public async Task Host_killed_from_outside_during_a_stream_of_small_transactions_loses_and_duplicates_nothing()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "crash_external_kill");
        var clock = Stopwatch.StartNew();
        await using var writer = new ChurnWriter(rig.Db, 0, TimeSpan.FromMilliseconds(5));
        await using (var host = await rig.StartHostAsync())
        {
            // The host creates the slot at start: only what is committed after that is captured.
            await Workload.RunAsync(rig.Db);
            writer.Start();
            // Let files and a flush cursor exist before the kill, then kill while the stream runs on.
            await host.WaitForLogAsync("Staged", TimeSpan.FromSeconds(60));
            await DurabilityRig.FlushAsync(host);
            await writer.WaitForMoreAsync(100, TimeSpan.FromSeconds(60));
            var before = await rig.ScalarAsync<long>("SELECT count(*) FROM cdc_registry.segments WHERE slot = $1", rig.Slot);
            // Kill in the middle of slicing: after at least one more slice has been staged since then.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (await rig.ScalarAsync<long>("SELECT count(*) FROM cdc_registry.segments WHERE slot = $1", rig.Slot) <= before)
            {
                Assert.True(DateTime.UtcNow < deadline, "no new segment was staged within 30 s");
                await Task.Delay(50);
            }
            await host.KillAsync();
            Assert.True(host.HasExited);
            output.WriteLine($"killed after {clock.Elapsed.TotalSeconds:0.0} s at transaction {writer.Next} ({before} segment(s) registered before)");
        }

        await writer.WaitForMoreAsync(50, TimeSpan.FromSeconds(60)); // the stream goes on while the host is down

        await using (var host = await rig.StartHostAsync())
        {
            await writer.WaitForMoreAsync(50, TimeSpan.FromSeconds(60));
            var written = await writer.StopAsync();
            await DurabilityRig.FlushAsync(host);
            await rig.VerifyEveryTableAsync();
            await rig.AssertRegisteredObjectsIntactAsync(await rig.RegisteredFilesAsync());
            output.WriteLine($"{written} churn transactions; recovered and verified in {clock.Elapsed.TotalSeconds:0.0} s");
        }
    }
}
