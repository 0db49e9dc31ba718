using System.ComponentModel;
using System.Runtime.InteropServices;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Pipeline;

/// <summary>
/// The work directory (PgEgress:WorkDirectory) holds spool, spill and reload files, that is rows of the source. At
/// start it is created 0700 when missing, refused when another user owns it or group or others may write to it (they
/// could read, replace or plant files there), and proven writable with a probe file, so a folder that cannot be used
/// fails the start instead of every slice after a ready report.
/// </summary>
public static class WorkDirectoryCheck
{
    private const string Setting = "PgEgress:WorkDirectory";
    private const UnixFileMode GroupOrOtherWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <exception cref="PipelineSetupException">The folder cannot be used safely; the message names the setting and the fix.</exception>
    public static void Prepare(string workDirectory)
    {
        var folder = Path.GetFullPath(workDirectory);
        try
        {
            PrivateFiles.CreateFolder(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PipelineSetupException($"{Setting} '{folder}' cannot be created: {e.Message}", e);
        }

        if (!OperatingSystem.IsWindows())
        {
            if (OperatingSystem.IsLinux() && OwnerOf(folder) is var owner && owner != EffectiveUserId())
                throw new PipelineSetupException(
                    $"{Setting} '{folder}' is owned by user id {owner}, not by this process's user (id {EffectiveUserId()}): its files would hold rows of the source; use a folder of this user");
            var mode = File.GetUnixFileMode(folder);
            if ((mode & GroupOrOtherWrite) != 0)
                throw new PipelineSetupException(
                    $"{Setting} '{folder}' is writable by group or others (mode {Convert.ToString((int)mode, 8)}): run chmod 700 on it or choose another folder");
        }

        var probe = Path.Combine(folder, $".pgegress-probe-{Guid.NewGuid():N}");
        try
        {
            using (PrivateFiles.Open(probe, FileMode.CreateNew, FileAccess.Write, 1)) { }
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PipelineSetupException($"{Setting} '{folder}' is not writable: {e.Message}", e);
        }
    }

    private static uint OwnerOf(string folder)
    {
        var buffer = new byte[StatxSize];
        if (Statx(AtFdCwd, folder, 0, StatxUid, buffer) != 0)
            throw new PipelineSetupException($"{Setting} '{folder}' cannot be examined: {new Win32Exception(Marshal.GetLastPInvokeError()).Message}");
        return BitConverter.ToUInt32(buffer, StatxUidOffset);
    }

    // struct statx is the same on every Linux architecture: 256 bytes, stx_uid at byte 20.
    private const int StatxSize = 256;
    private const int StatxUidOffset = 20;
    private const uint StatxUid = 0x8;
    private const int AtFdCwd = -100;

    // DllImport rather than LibraryImport: the generated marshalling code needs AllowUnsafeBlocks.
    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint EffectiveUserId();
}
