using System.Diagnostics;

namespace PgEgress.Core.Diagnostics;

/// <summary>
/// Named points between two durable steps where the crash tests kill the process: when PGEGRESS_CRASH_AT names the
/// point, the process kills itself (SIGKILL: no finally block, no flush, no ack), exactly as a power cut would.
/// </summary>
public static class CrashPoint
{
    public const string MidTransaction = "slice-mid-transaction";
    public const string SegmentUploaded = "slice-segment-uploaded";
    public const string SegmentRegistered = "slice-segment-registered";
    public const string FlushFilesWritten = "flush-files-written";
    public const string FlushRegistered = "flush-registered";
    public const string ReloadMidExport = "reload-mid-export";
    public const string ReloadFileUploaded = "reload-file-uploaded";
    public const string SinkMidApply = "sink-mid-apply";

    private static readonly string? Armed = Environment.GetEnvironmentVariable("PGEGRESS_CRASH_AT");

    public static void Hit(string name)
    {
        if (Armed == name) Process.GetCurrentProcess().Kill();
    }
}
