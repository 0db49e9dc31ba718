using System.Diagnostics;

namespace PgEgress.Core.Diagnostics;

/// <summary>
/// Named points between two durable steps where the crash tests kill the process: when PGEGRESS_CRASH_AT names the
/// point, the process kills itself (SIGKILL: no finally block, no flush, no ack), exactly as a power cut would.
/// <para>
/// Pause points hold the process instead, so a test can send a signal while it is at a known place: when
/// PGEGRESS_PAUSE_AT names the point (as "point" or "point:subject-prefix"), a caller that reaches it writes the file
/// "reached" into the folder PGEGRESS_PAUSE_DIR and waits there until that folder has a file
/// "release" (or its token is cancelled).
/// </para>
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

    /// <summary>Pause point: a tuple half read, after a slice has committed transactions (the subject is unused).</summary>
    public const string MidTuple = "slice-mid-tuple";

    /// <summary>Pause point: a file store's put, its temporary file written and not yet renamed (the subject is the object path).</summary>
    public const string StorePut = "store-put";

    private static readonly TimeSpan ReleasePoll = TimeSpan.FromMilliseconds(20);
    private static readonly string? Armed = Environment.GetEnvironmentVariable("PGEGRESS_CRASH_AT");
    private static readonly string? PauseAt = Environment.GetEnvironmentVariable("PGEGRESS_PAUSE_AT");
    private static readonly string? PauseFolder = Environment.GetEnvironmentVariable("PGEGRESS_PAUSE_DIR");

    public static void Hit(string name)
    {
        if (Armed == name) Process.GetCurrentProcess().Kill();
    }

    private static bool PausesAt(string name, string subject)
    {
        if (PauseAt is null || PauseFolder is null) return false;
        var colon = PauseAt.IndexOf(':');
        return colon < 0
            ? PauseAt == name
            : PauseAt.AsSpan(0, colon).SequenceEqual(name) && subject.StartsWith(PauseAt[(colon + 1)..], StringComparison.Ordinal);
    }

    public static async Task PauseAsync(string name, string subject, CancellationToken ct)
    {
        if (!PausesAt(name, subject)) return;
        var release = Path.Combine(PauseFolder!, "release");
        if (File.Exists(release)) return;
        await File.WriteAllTextAsync(Path.Combine(PauseFolder!, "reached"), $"{name} {subject}", ct);
        while (!File.Exists(release)) await Task.Delay(ReleasePoll, ct);
    }
}
