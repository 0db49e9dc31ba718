using System.Runtime.Versioning;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Storage;

/// <summary>The contract on a local folder, plus what only a folder has: file modes and temporary files.</summary>
public sealed class FileSystemObjectStoreTests : ObjectStoreContractTests
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyFolder = OwnerOnlyFile | UnixFileMode.UserExecute;

    private readonly string _parent = Directory.CreateTempSubdirectory("pgegress-fs-store-").FullName;

    private string Root => Path.Combine(_parent, "root");

    protected override Task<IObjectStore> CreateStoreAsync() => Task.FromResult<IObjectStore>(new FileSystemObjectStore(Root));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_parent, recursive: true);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task Files_are_readable_only_by_the_owner_and_so_are_the_folders_it_creates()
    {
        await PutTextAsync("public.orders/20250101T000000Z/streaming.csv.gz", "rows");

        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(Path.Combine(Root, "public.orders/20250101T000000Z/streaming.csv.gz")));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(Root));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(Path.Combine(Root, "public.orders")));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(Path.Combine(Root, "public.orders/20250101T000000Z")));
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task An_overwritten_file_keeps_the_owner_only_mode()
    {
        await PutTextAsync("x", "1");
        File.SetUnixFileMode(Path.Combine(Root, "x"), OwnerOnlyFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await PutTextAsync("x", "2");

        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(Path.Combine(Root, "x")));
    }

    [Fact]
    public async Task Puts_leave_no_temporary_files_and_stray_ones_are_not_listed()
    {
        await PutTextAsync("a/b", "x");
        await Assert.ThrowsAsync<IOException>(() => Store.PutAsync("a/c", new GeneratedStream(1000, failAfter: 10), default));
        Assert.Equal(["b"], Directory.GetFileSystemEntries(Path.Combine(Root, "a")).Select(Path.GetFileName));

        // As a crash in the middle of a put would leave it.
        await File.WriteAllTextAsync(Path.Combine(Root, "a", FileSystemObjectStore.TempPrefix + "crashed"), "half");

        Assert.Equal(["a/b"], await ListAsync(""));
    }

    [Fact]
    public async Task A_sweep_removes_temporary_files_nobody_wrote_to_for_an_hour_and_keeps_younger_ones()
    {
        await PutTextAsync("public.orders/20250101T000000Z/streaming.csv.gz", "rows");
        var folder = Path.Combine(Root, "public.orders", "20250101T000000Z");
        var abandoned = Path.Combine(folder, FileSystemObjectStore.TempPrefix + "abandoned");
        var atRoot = Path.Combine(Root, FileSystemObjectStore.TempPrefix + "abandoned-probe");
        var live = Path.Combine(folder, FileSystemObjectStore.TempPrefix + "live");
        foreach (var file in new[] { abandoned, atRoot, live }) await File.WriteAllTextAsync(file, "half");
        // Last written 61 minutes ago, as after a kill an hour back; the live one was written just now (another process's put).
        File.SetLastWriteTimeUtc(abandoned, DateTime.UtcNow.AddMinutes(-61));
        File.SetLastWriteTimeUtc(atRoot, DateTime.UtcNow.AddMinutes(-61));
        File.SetLastWriteTimeUtc(live, DateTime.UtcNow.AddMinutes(-50));

        Assert.Equal(2, await Store.SweepLeftoversAsync(default));

        Assert.False(File.Exists(abandoned));
        Assert.False(File.Exists(atRoot));
        Assert.True(File.Exists(live));
        Assert.Equal(["public.orders/20250101T000000Z/streaming.csv.gz"], await ListAsync(""));
    }

    [Fact]
    public async Task A_sweep_right_after_another_does_not_walk_the_folder_again()
    {
        await PutTextAsync("a/b", "x");
        Assert.Equal(0, await Store.SweepLeftoversAsync(default));
        var abandoned = Path.Combine(Root, "a", FileSystemObjectStore.TempPrefix + "abandoned");
        await File.WriteAllTextAsync(abandoned, "half");
        File.SetLastWriteTimeUtc(abandoned, DateTime.UtcNow.AddHours(-2));

        Assert.Equal(0, await Store.SweepLeftoversAsync(default));
        Assert.True(File.Exists(abandoned));
        // A new store (a restarted process) sweeps at once.
        Assert.Equal(1, await new FileSystemObjectStore(Root).SweepLeftoversAsync(default));
    }

    [Fact]
    public async Task The_temporary_file_prefix_cannot_name_an_object()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => PutTextAsync("a/" + FileSystemObjectStore.TempPrefix + "x", "x"));
    }

    [Fact]
    public async Task A_reader_keeps_the_version_it_opened_while_a_put_replaces_it()
    {
        await PutTextAsync("segment", "old version");
        await using var reader = await Store.OpenReadAsync("segment", default);

        await PutTextAsync("segment", "new version");

        Assert.Equal("old version", await new StreamReader(reader!).ReadToEndAsync());
        Assert.Equal("new version", await ReadTextAsync("segment"));
    }

    [Fact]
    public void Describe_gives_the_absolute_root()
    {
        Assert.Equal($"file:{Root}", Store.Describe);
    }
}
