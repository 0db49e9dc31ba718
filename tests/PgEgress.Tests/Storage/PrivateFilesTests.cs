using System.Runtime.Versioning;
using System.Text;
using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Storage;

/// <summary>
/// Spool and spill files hold rows of the source: whatever the process umask, they are 0600 in 0700 folders, so no
/// other local user can read them. The modes are read back from the file system.
/// </summary>
public sealed class PrivateFilesTests : IDisposable
{
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _dir = Directory.CreateTempSubdirectory("pgegress-modes-").FullName;

    private static readonly RelationSchema Orders = new(16384, "public", "orders", 'd',
        [new ColumnSchema("id", 23, -1, "integer", false, true), new ColumnSchema("note", 25, -1, "text", true, false)]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void Text(SegmentWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Open.StartText(bytes.Length);
        w.Open.ValueSink.Write(bytes);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void A_segment_spool_and_its_spill_file_are_0600_and_the_spill_folder_0700()
    {
        var spool = Path.Combine(_dir, "s.seg");
        var spillFolder = Path.Combine(_dir, "not-yet", "spill");
        using var w = new SegmentWriter(spool, "slot1", 100, spillFolder, transactionMemoryLimit: 64);
        w.Open.AddRelation(Orders);
        w.Open.StartInsert(Orders);
        w.Open.StartTuple(2);
        Text(w, "1");
        Text(w, new string('x', 500)); // past the memory limit: the open transaction spills to a file

        var spill = Assert.Single(Directory.GetFiles(spillFolder));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(spill));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(spillFolder));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(Path.GetDirectoryName(spillFolder)!));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(spool));
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void A_batch_part_spool_is_0600()
    {
        var spool = Path.Combine(_dir, "part.csv.gz");
        using var part = new CsvPartWriter(spool, Orders);

        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(spool));
    }
}
