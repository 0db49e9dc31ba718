using PgEgress.Core.Diagnostics;
using PgEgress.Core.Registry;
using PgEgress.Tests.Durability;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using Xunit.Abstractions;

namespace PgEgress.Tests.Reload;

/// <summary>
/// The host killed (SIGKILL, by itself at a crash point) during a reload's export, after some CTID ranges are done, or
/// after the file is uploaded but before it is registered: no partial reload file is ever registered, and after a
/// restart the reload completes from a fresh snapshot and the table rebuilds exactly.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReloadCrashTests(PostgresFixture pg, ITestOutputHelper output)
{
    private const int SigKillExitCode = 128 + 9;

    [Theory]
    [InlineData(CrashPoint.ReloadMidExport)]
    [InlineData(CrashPoint.ReloadFileUploaded)]
    public async Task Host_killed_during_an_export_completes_the_reload_after_restart(string point)
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "reload_crash_" + point.Replace('-', '_'), ReloadRig.BigTable);
        await ReloadRig.ExecAsync(rig.Db, ReloadRig.FillBig(200_000));
        var ranges = new Dictionary<string, string?>
        {
            // ~20 MB of table in ~2 MB ranges, two workers: the crash comes with ranges done and ranges to go.
            ["PgEgress__Reload__SplitAboveBytes"] = "1048576",
            ["PgEgress__Reload__RangeBytes"] = "2097152",
        };

        await using (var host = await rig.StartHostAsync(crashAt: point, extra: ranges))
        {
            var id = await ReloadRig.ScalarAsync<long>(rig.Db, "SELECT cdc_registry.request_reload('app.big'::regclass)");
            var code = await host.WaitExitAsync(TimeSpan.FromSeconds(120));
            Assert.True(code == SigKillExitCode, $"the host exited with {code}, not by SIGKILL at {point}: {host.StandardError}\n{DurabilityRig.Tail(host)}");
            var op = await new OperationStore(rig.Db).GetAsync(id, default);
            Assert.Equal(OperationRecord.Exporting, op!.State);
            Assert.Equal(0L, await ReloadRig.ScalarAsync<long>(rig.Db, "SELECT count(*) FROM cdc_registry.file_log WHERE file_type = 'full_reload'"));
            if (point == CrashPoint.ReloadFileUploaded)
                Assert.Contains(rig.OutputFiles(), f => f.EndsWith("/full_reload.csv.gz", StringComparison.Ordinal));
        }

        // The table keeps changing while the host is down and after it is back.
        await ReloadRig.ExecAsync(rig.Db, "UPDATE app.big SET k = -k WHERE id % 1000 = 0; DELETE FROM app.big WHERE id % 997 = 0");
        await using (var host = await rig.StartHostAsync(extra: ranges))
        {
            var ops = await ReloadRig.WaitForOperationsAsync(rig.Db, rig.Slot, 1, TimeSpan.FromMinutes(2));
            Assert.Equal(OperationRecord.Completed, ops[0].State);
            Assert.Equal(2, ops[0].Attempts);
            await ReloadRig.ExecAsync(rig.Db, "INSERT INTO app.big VALUES (5000000, 1, 'after', now()); UPDATE app.big SET payload = 'x' WHERE id = 2");
            await DurabilityRig.FlushAsync(host);
        }
        await ReloadRig.AssertRebuildsAsync(rig.Db, rig.Store, ["big"], expectReload: true);
        var reloadFiles = rig.OutputFiles().Where(f => f.EndsWith("/full_reload.csv.gz", StringComparison.Ordinal)).ToList();
        Assert.True(reloadFiles.Count == 1, "reload files on disk: " + string.Join(", ", reloadFiles));
        await rig.AssertRegisteredObjectsIntactAsync(await rig.RegisteredFilesAsync());
        output.WriteLine($"{point}: reload completed after restart; {reloadFiles[0]}");
    }
}
