using System.Diagnostics;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Output;
using PgEgress.Core.Storage;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.HostProcess;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Durability;

/// <summary>
/// The invariant "nothing downstream ever sees a half-written file": a SIGTERM (a container stop) in the middle of
/// ingestion, with scheduled flushes running every two seconds, leaves the output folder holding only registered files
/// that match their registered size and sha256, their schema.yml, and staged segments; no temporary or unregistered
/// batch file. A restart then carries on without loss or duplicates.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class GracefulShutdownTests(PostgresFixture pg, ITestOutputHelper output)
{
    private static readonly Dictionary<string, string?> FrequentFlushes = new() { ["PgEgress__Batch__Interval"] = "00:00:02" };

    [Fact]
    public async Task Sigterm_during_ingestion_leaves_only_registered_intact_files()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "sigterm_ingest");
        var clock = Stopwatch.StartNew();
        await using var writer = new ChurnWriter(rig.Db, 0, TimeSpan.FromMilliseconds(5));
        await using (var host = await rig.StartHostAsync(extra: FrequentFlushes))
        {
            await Workload.RunAsync(rig.Db);
            writer.Start();
            // Scheduled flushes have registered files, and the stream is still being staged, when the stop comes.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (await rig.ScalarAsync<long>("SELECT count(DISTINCT batch) FROM cdc_registry.file_log") < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, $"no two scheduled flushes registered files within 60 s. Log tail:\n{DurabilityRig.Tail(host)}");
                await Task.Delay(100);
            }
            await writer.WaitForMoreAsync(100, TimeSpan.FromSeconds(60));

            var code = await host.TerminateAsync(TimeSpan.FromSeconds(60));
            Assert.True(code == 0, $"the host exited with {code} on SIGTERM; stderr: {host.StandardError}\n{DurabilityRig.Tail(host)}");
            output.WriteLine($"SIGTERM at transaction {writer.Next}, {clock.Elapsed.TotalSeconds:0.0} s in; the host exited with 0");
        }

        // Checked at once, before anything else writes (the stream goes on but no host is running).
        var files = await rig.RegisteredFilesAsync();
        var segments = await rig.RegisteredSegmentsAsync();
        var onDisk = rig.OutputFiles();
        Assert.NotEmpty(files);
        await rig.AssertRegisteredObjectsIntactAsync(files);
        await rig.AssertRegisteredObjectsIntactAsync(segments);
        var registered = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var registeredFolders = files.Select(f => f.Path[..f.Path.LastIndexOf('/')]).ToHashSet(StringComparer.Ordinal);
        var stray = onDisk.Where(p =>
            !registered.Contains(p)
            && !(p.EndsWith("/" + OutputLayout.SchemaFile, StringComparison.Ordinal) && registeredFolders.Contains(p[..p.LastIndexOf('/')]))
            && !(p.StartsWith($"_staging/{rig.Slot}/", StringComparison.Ordinal) && p.EndsWith(".seg", StringComparison.Ordinal)))
            .ToList();
        Assert.True(stray.Count == 0, $"after SIGTERM the output folder holds files that are not registered:\n{string.Join("\n", stray)}");
        output.WriteLine($"{files.Count} registered file(s), {segments.Count} registered segment(s), {onDisk.Count} file(s) on disk, none stray");

        // And nothing was lost: a restart carries on from where the stop left off.
        await using (var host = await rig.StartHostAsync())
        {
            await writer.WaitForMoreAsync(20, TimeSpan.FromSeconds(60));
            var written = await writer.StopAsync();
            await DurabilityRig.FlushAsync(host);
            await rig.VerifyEveryTableAsync();
            output.WriteLine($"{written} churn transactions; restarted, flushed and verified at {clock.Elapsed.TotalSeconds:0.0} s");
        }
    }

    /// <summary>One transaction touching four tables, so its flush uploads four batch files.</summary>
    private const string Volume = """
        BEGIN;
        INSERT INTO app.accounts SELECT g, 'owner ' || g, g / 7.0 FROM generate_series(1, 1000) g;
        INSERT INTO app.log_nopk (msg) SELECT repeat(md5((g * 3)::text), 4) FROM generate_series(1, 1000) g;
        INSERT INTO app.full_nopk SELECT g, repeat(md5((g * 5)::text), 4) FROM generate_series(1, 1000) g;
        INSERT INTO app.full_pk SELECT g, md5(g::text), repeat(md5((g * 11)::text), 4) FROM generate_series(1, 1000) g;
        COMMIT;
        """;

    /// <summary>The flush is held in the put of one of its batch files, after others are in place.</summary>
    private static PauseGate BatchFileUpload() => new($"{CrashPoint.StorePut}:app.full_nopk/");

    [Fact]
    public async Task Sigterm_while_a_scheduled_flush_uploads_leaves_only_registered_intact_files()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "sigterm_flush");
        using var gate = BatchFileUpload();
        List<string> log;
        await using (var host = await rig.StartHostAsync(extra: new Dictionary<string, string?>(gate.Environment) { ["PgEgress__Batch__Interval"] = "00:00:05" }))
        {
            await rig.ExecAsync(Volume);
            await gate.WaitReachedAsync(host, TimeSpan.FromSeconds(120));
            var first = rig.OutputFiles().Where(p => p.Contains("/streaming", StringComparison.Ordinal)).ToList();
            await host.SendTerminateAsync();
            await host.WaitForLogAsync("Application is shutting down", TimeSpan.FromSeconds(30));
            gate.Release();
            var code = await host.WaitExitAsync(TimeSpan.FromSeconds(60));
            Assert.True(code == 0, $"the host exited with {code} on SIGTERM; stderr: {host.StandardError}\n{DurabilityRig.Tail(host)}");
            // Some of the flush's files were in place, the held one not yet.
            Assert.NotEmpty(first);
            Assert.DoesNotContain(first, p => p.StartsWith("app.full_nopk/", StringComparison.Ordinal));
            log = [.. host.StandardOutput];
        }

        var files = await rig.RegisteredFilesAsync();
        await rig.AssertRegisteredObjectsIntactAsync(files);
        var registered = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var stray = rig.OutputFiles().Where(p => !registered.Contains(p) && !p.EndsWith("/" + OutputLayout.SchemaFile, StringComparison.Ordinal)
                                                 && !p.StartsWith($"_staging/{rig.Slot}/", StringComparison.Ordinal)).ToList();
        Assert.True(stray.Count == 0, $"after SIGTERM the output folder holds files that are not registered:\n{string.Join("\n", stray)}");
        Assert.Equal(4, files.Count);

        // The flush began before the SIGTERM (it was held in an upload) and was registered after it.
        var stopping = log.FindIndex(l => l.Contains("Application is shutting down", StringComparison.Ordinal));
        var flushed = log.FindIndex(l => l.Contains("Flushed batch", StringComparison.Ordinal));
        Assert.True(stopping >= 0 && flushed > stopping, $"shutdown logged at line {stopping}, flush at line {flushed}");
    }

    [Fact]
    public async Task A_flush_whose_upload_never_ends_does_not_keep_the_host_from_exiting_after_sigterm()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "sigterm_hung_flush");
        using var gate = BatchFileUpload();
        await using var host = await rig.StartHostAsync(extra: new Dictionary<string, string?>(gate.Environment) { ["PgEgress__Batch__Interval"] = "00:00:05" });
        await rig.ExecAsync(Volume);
        await gate.WaitReachedAsync(host, TimeSpan.FromSeconds(120));

        // Never released: the upload hangs as against a store that stopped answering.
        var clock = Stopwatch.StartNew();
        var code = await host.TerminateAsync(TimeSpan.FromSeconds(90));
        var took = clock.Elapsed;
        output.WriteLine($"exited with {code} {took.TotalSeconds:0.0} s after SIGTERM");

        // The Host's shutdown timeout is 30 s and the budget two thirds of it: the hung step is given up at 20 s, by the
        // budget (its log line), not by the host ceasing to wait for its services at 30 s.
        Assert.Contains(host.StandardOutput, l => l.Contains("shutdown budget ran out while batch", StringComparison.Ordinal));
        Assert.True(took > TimeSpan.FromSeconds(19), $"the hung upload was given up {took.TotalSeconds:0.0} s after SIGTERM, before its budget");
        Assert.Equal(0, code);
        Assert.DoesNotContain(host.StandardOutput, l => l.Contains("Flushed batch", StringComparison.Ordinal));
        Assert.Empty(await rig.RegisteredFilesAsync());
        // The held put's temporary file went with it.
        Assert.DoesNotContain(rig.OutputFiles(), p => p.Contains(FileSystemObjectStore.TempPrefix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sigterm_while_a_large_transaction_streams_in_stages_and_acknowledges_the_transactions_committed_before_it()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "sigterm_mid_tuple");
        using var gate = new PauseGate(CrashPoint.MidTuple);
        // One long slice, so the small transaction is still in the open segment when the large one streams in.
        var extra = new Dictionary<string, string?>(gate.Environment)
        {
            ["PgEgress__Slice__MaxDuration"] = "00:05:00", ["PgEgress__Slice__MaxLatency"] = "00:05:00", ["PgEgress__Slice__QuietAfterCommit"] = "00:00:00",
        };
        await using var host = await rig.StartHostAsync(extra: extra);
        await rig.ExecAsync("INSERT INTO app.accounts SELECT g, 'owner ' || g, g FROM generate_series(1, 10) g");
        await rig.ExecAsync("INSERT INTO app.full_pk SELECT g, md5(g::text), repeat(md5(g::text), 20) FROM generate_series(1, 20000) g");

        await gate.WaitReachedAsync(host, TimeSpan.FromSeconds(120)); // the first tuple of the large transaction, half read
        await host.SendTerminateAsync();
        await host.WaitForLogAsync("Application is shutting down", TimeSpan.FromSeconds(30));
        gate.Release();
        var code = await host.WaitExitAsync(TimeSpan.FromSeconds(60));
        var log = string.Join("\n", host.StandardOutput) + host.StandardError;
        Assert.True(code == 0, $"the host exited with {code} on SIGTERM.\n{DurabilityRig.Tail(host)}\n{host.StandardError}");

        // Exactly the small transaction is staged (the large one was abandoned, to be replayed whole), and acknowledged.
        var staged = await rig.ScalarAsync<string>(
            "SELECT coalesce(sum(txns), 0) || ' ' || coalesce(sum(changes), 0) || ' ' || coalesce(max(end_lsn)::text, '0/0') FROM cdc_registry.segments WHERE slot = $1",
            rig.Slot);
        var parts = staged.Split(' ');
        Assert.True(parts[0] == "1" && parts[1] == "10", $"staged {parts[0]} transaction(s), {parts[1]} change(s); expected the small transaction's 1 and 10.\n{DurabilityRig.Tail(host)}");
        var stagedEnd = (ulong)NpgsqlTypes.NpgsqlLogSequenceNumber.Parse(parts[2]);
        // The walsender applies the acknowledgement when it reads it, which may be after the host has gone.
        await rig.WaitConfirmedAsync(stagedEnd, TimeSpan.FromSeconds(30), () => "the staged transaction was not acknowledged");
        Assert.DoesNotContain("ObjectDisposedException", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Slice failed", log, StringComparison.Ordinal);
    }
}
