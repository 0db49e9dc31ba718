using PgEgress.Core.Diagnostics;
using PgEgress.Core.Storage;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.HostProcess;

namespace PgEgress.Tests.Durability;

/// <summary>
/// A host killed in the middle of a put leaves the put's temporary file in the output folder, hidden from listings.
/// The next start removes it once nobody has written to it for an hour, and leaves younger ones alone: they may be
/// another process's puts under way in a shared folder.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LeftoverTempFileTests(PostgresFixture pg)
{
    [Fact]
    public async Task A_restart_removes_the_temporary_file_a_killed_upload_left_and_keeps_a_young_one()
    {
        await using var rig = await DurabilityRig.CreateAsync(pg, "leftover_tmp");
        using var gate = new PauseGate($"{CrashPoint.StorePut}:app.accounts/");
        await using (var host = await rig.StartHostAsync(extra: new Dictionary<string, string?>(gate.Environment) { ["PgEgress__Batch__Interval"] = "00:00:05" }))
        {
            await rig.ExecAsync("INSERT INTO app.accounts SELECT g, 'owner ' || g, g FROM generate_series(1, 1000) g");
            await gate.WaitReachedAsync(host, TimeSpan.FromSeconds(120)); // the batch file is written, not yet renamed into place
            await host.KillAsync();
        }

        var leftover = Assert.Single(rig.OutputFiles(), p => p.Contains(FileSystemObjectStore.TempPrefix, StringComparison.Ordinal));
        var abandoned = Path.Combine(rig.Output, leftover);
        Assert.True(new FileInfo(abandoned).Length > 0, "the killed put's temporary file is empty");
        File.SetLastWriteTimeUtc(abandoned, DateTime.UtcNow.AddHours(-2)); // as if the restart came two hours later
        var young = Path.Combine(Path.GetDirectoryName(abandoned)!, FileSystemObjectStore.TempPrefix + "another-process");
        await File.WriteAllTextAsync(young, "a put under way elsewhere");

        await using (var host = await rig.StartHostAsync())
        {
            await host.WaitForLogAsync("Deleted 1 temporary file(s)", TimeSpan.FromSeconds(60));
            Assert.False(File.Exists(abandoned), $"{leftover} is still there after the restart");
            Assert.True(File.Exists(young), "the young temporary file was removed");
            await DurabilityRig.FlushAsync(host);
        }
        Assert.Contains(await rig.RegisteredFilesAsync(), f => f.Path.StartsWith("app.accounts/", StringComparison.Ordinal));
    }
}
