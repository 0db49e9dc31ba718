using System.Diagnostics;
using PgEgress.Core.Output;
using PgEgress.Tests.Fixtures;
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

    /// <summary>
    /// One transaction whose flush spends a while uploading: the first table (uploaded first) is small, the three after
    /// it are large, so a SIGTERM sent as soon as the first batch file is in place lands while the others are written.
    /// </summary>
    private const string Volume = """
        BEGIN;
        INSERT INTO app.accounts SELECT g, 'owner ' || g, g / 7.0 FROM generate_series(1, 1000) g;
        INSERT INTO app.log_nopk (msg) SELECT repeat(md5((g * 3)::text), 4) FROM generate_series(1, 100000) g;
        INSERT INTO app.full_nopk SELECT g, repeat(md5((g * 5)::text), 4) FROM generate_series(1, 100000) g;
        INSERT INTO app.full_pk SELECT g, md5(g::text), repeat(md5((g * 11)::text), 4) FROM generate_series(1, 100000) g;
        COMMIT;
        """;

    [Fact]
    public async Task Sigterm_while_a_scheduled_flush_uploads_leaves_only_registered_intact_files()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "sigterm_flush");
        var clock = Stopwatch.StartNew();
        List<string> log;
        await using (var host = await rig.StartHostAsync(extra: new Dictionary<string, string?> { ["PgEgress__Batch__Interval"] = "00:00:05" }))
        {
            await rig.ExecAsync(Volume);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            string? first = null;
            while (first is null)
            {
                Assert.True(DateTime.UtcNow < deadline, $"no batch file appeared within 120 s. Log tail:\n{DurabilityRig.Tail(host)}");
                first = rig.OutputFiles().FirstOrDefault(p => p.Contains("/streaming", StringComparison.Ordinal));
                if (first is null) await Task.Delay(5);
            }
            var code = await host.TerminateAsync(TimeSpan.FromSeconds(60));
            Assert.True(code == 0, $"the host exited with {code} on SIGTERM; stderr: {host.StandardError}\n{DurabilityRig.Tail(host)}");
            output.WriteLine($"SIGTERM when {first} appeared, {clock.Elapsed.TotalSeconds:0.0} s in");
            Assert.StartsWith("app.accounts/", first); // the small table comes first; the large ones were still to be written
            log = [.. host.StandardOutput];
        }

        var files = await rig.RegisteredFilesAsync();
        await rig.AssertRegisteredObjectsIntactAsync(files);
        var registered = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var stray = rig.OutputFiles().Where(p => !registered.Contains(p) && !p.EndsWith("/" + OutputLayout.SchemaFile, StringComparison.Ordinal)
                                                 && !p.StartsWith($"_staging/{rig.Slot}/", StringComparison.Ordinal)).ToList();
        Assert.True(stray.Count == 0, $"after SIGTERM the output folder holds files that are not registered:\n{string.Join("\n", stray)}");
        Assert.Equal(4, files.Count);

        // The stop really came in the middle of the flush: the flush finished after the host began shutting down.
        var stopping = log.FindIndex(l => l.Contains("Application is shutting down", StringComparison.Ordinal));
        var flushed = log.FindIndex(l => l.Contains("Flushed batch", StringComparison.Ordinal));
        Assert.True(stopping >= 0 && flushed > stopping,
            $"inconclusive: the SIGTERM did not land during the flush (shutdown logged at line {stopping}, flush at line {flushed})");
        output.WriteLine($"the flush began before the SIGTERM and completed after it: {files.Count} file(s) registered, none stray");
    }
}
