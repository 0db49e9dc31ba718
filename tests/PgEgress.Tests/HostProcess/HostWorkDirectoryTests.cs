using System.Runtime.Versioning;
using Npgsql;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// The work directory holds rows of the source (spool, spill and reload files). A host refuses, in one line and
/// before it creates anything on the source, a work directory another user owns, one group or others may write to,
/// and one it cannot write to at all (here a regular file, which used to start, report ready and fail every slice).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HostWorkDirectoryTests(PostgresFixture pg) : IDisposable
{
    private static readonly TimeSpan ExitWithin = TimeSpan.FromSeconds(30);

    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-hostwork-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<(Dictionary<string, string?> Settings, string ConnectionString)> SettingsAsync(string prefix, string workDirectory)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(prefix);
        await using (var conn = new NpgsqlConnection(cs))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY)", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        var settings = HostSettings.For(cs, _root);
        settings["PgEgress__WorkDirectory"] = workDirectory;
        return (settings, cs);
    }

    private static async Task AssertNoSlotAsync(string cs, string slot)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", conn) { Parameters = { new() { Value = slot } } };
        Assert.Equal(0L, await cmd.ExecuteScalarAsync());
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task A_work_directory_owned_by_another_user_is_refused()
    {
        var work = Directory.CreateDirectory(Path.Combine(_root, "theirs")).FullName;
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await ChownAsync(work, "65534");
        var (settings, cs) = await SettingsAsync("hw_owner", work);

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "folder of uid 65534", ["PgEgress:WorkDirectory", $"'{work}'", "owned by user id 65534"]);
        await AssertNoSlotAsync(cs, settings["PgEgress__Source__Slot"]!);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task A_work_directory_writable_by_the_group_is_refused()
    {
        var work = Directory.CreateDirectory(Path.Combine(_root, "shared")).FullName;
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                   | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);
        var (settings, cs) = await SettingsAsync("hw_group", work);

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "mode 0770", ["PgEgress:WorkDirectory", $"'{work}'", "writable by group or others", "chmod 700"]);
        await AssertNoSlotAsync(cs, settings["PgEgress__Source__Slot"]!);
    }

    [Fact]
    public async Task A_work_directory_that_is_a_regular_file_fails_the_start()
    {
        var work = Path.Combine(_root, "a-file");
        await File.WriteAllTextAsync(work, "not a folder");
        var (settings, cs) = await SettingsAsync("hw_file", work);

        var failure = await HostFailure.RunAsync(settings, ExitWithin);

        failure.AssertOneLine(1, "startup error", "a regular file", ["PgEgress:WorkDirectory", $"'{work}'"]);
        await AssertNoSlotAsync(cs, settings["PgEgress__Source__Slot"]!);
    }

    private static async Task ChownAsync(string path, string owner)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [owner, path])!;
        await chown.WaitForExitAsync();
        Assert.Equal(0, chown.ExitCode);
    }
}
