using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace PgEgress.Testing;

/// <summary>How <see cref="ProcessRunner.RunAsync"/> runs a command.</summary>
public sealed record RunOptions
{
    /// <summary>
    /// Account to run as (through <c>runuser</c>, so only when the current process is root); null or the
    /// current account runs the command directly.
    /// </summary>
    public string? RunAs { get; init; }

    /// <summary>
    /// Working directory. With <see cref="RunAs"/> it must be traversable by that account; when null the child
    /// starts in "/" then, because the caller's directory (e.g. /root) often is not.
    /// </summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Changes to the inherited environment; a null value removes the variable.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Text written to the child's standard input, which is then closed (it is closed at once when null).</summary>
    public string? StandardInput { get; init; }

    /// <summary>After this the whole process tree is killed and the result reports <see cref="ProcessResult.TimedOut"/>.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
}

/// <summary>The outcome of one command. <see cref="ExitCode"/> is -1 when it timed out.</summary>
public sealed record ProcessResult(
    string CommandLine, int ExitCode, string StandardOutput, string StandardError, bool TimedOut, TimeSpan Elapsed)
{
    public bool Succeeded => !TimedOut && ExitCode == 0;

    /// <summary>Returns this result, or throws a <see cref="ProcessFailedException"/> carrying the output and <paramref name="context"/>.</summary>
    public ProcessResult EnsureSuccess(string? context = null) =>
        Succeeded ? this : throw new ProcessFailedException(this, context);
}

/// <summary>A command failed; the message holds its command line, exit code, stderr, stdout and any context (e.g. a server log tail).</summary>
public sealed class ProcessFailedException(ProcessResult result, string? context)
    : Exception(Describe(result, context))
{
    public ProcessResult Result { get; } = result;

    private static string Describe(ProcessResult r, string? context)
    {
        var message = new StringBuilder()
            .Append('`').Append(r.CommandLine).Append("` ")
            .AppendLine(r.TimedOut ? $"timed out after {r.Elapsed.TotalSeconds:0.#} s" : $"exited with code {r.ExitCode}")
            .AppendLine("--- stderr ---").AppendLine(r.StandardError.TrimEnd())
            .AppendLine("--- stdout ---").AppendLine(r.StandardOutput.TrimEnd());
        if (!string.IsNullOrEmpty(context)) message.AppendLine(context.TrimEnd());
        return message.ToString();
    }
}

/// <summary>Runs external commands without a shell (arguments are passed as a list, never parsed).</summary>
public static class ProcessRunner
{
    /// <summary>True when the effective user is root (PostgreSQL, for one, refuses to run as root).</summary>
    public static bool IsRoot { get; } = !OperatingSystem.IsWindows() && geteuid() == 0;

    [DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();

    /// <summary>
    /// Runs <paramref name="file"/> (a path, or a name looked up on PATH) and captures its output. A non-zero exit
    /// code or a timeout is reported in the result, not thrown; call <see cref="ProcessResult.EnsureSuccess"/>.
    /// Cancelling <paramref name="ct"/> kills the process tree and throws.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string file, IEnumerable<string> args, RunOptions? options = null, CancellationToken ct = default)
    {
        options ??= new RunOptions();
        var startInfo = CreateStartInfo(file, args, options);
        var commandLine = string.Join(' ', new[] { startInfo.FileName }.Concat(startInfo.ArgumentList).Select(Quote));
        var stopwatch = Stopwatch.StartNew();

        using var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"Could not start `{commandLine}`.");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var pumps = Task.WhenAll(
            PumpAsync(process.StandardOutput, stdout),
            PumpAsync(process.StandardError, stderr),
            FeedAsync(process.StandardInput, options.StandardInput));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.Timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            // A daemon the command started may inherit the pipes and keep them open: the deadline covers that too.
            await pumps.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            KillTree(process);
            ct.ThrowIfCancellationRequested();
            timedOut = true;
            // Give the killed tree a bounded moment to exit and flush what it wrote, so the result shows it.
            try { await Task.WhenAll(process.WaitForExitAsync(), pumps).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
            catch (TimeoutException) { }
        }

        return new ProcessResult(
            commandLine,
            timedOut ? -1 : process.ExitCode,
            Snapshot(stdout),
            Snapshot(stderr),
            timedOut,
            stopwatch.Elapsed);
    }

    private static ProcessStartInfo CreateStartInfo(string file, IEnumerable<string> args, RunOptions options)
    {
        var startInfo = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,  // so the child never reads the test host's stdin
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };

        var switchUser = options.RunAs is { } user && user != Environment.UserName;
        if (switchUser)
        {
            if (!IsRoot)
                throw new InvalidOperationException(
                    $"Cannot run `{file}` as '{options.RunAs}': switching accounts needs root, and this process runs as '{Environment.UserName}'.");
            startInfo.FileName = "runuser";
            foreach (var a in new[] { "-u", options.RunAs!, "--", file }) startInfo.ArgumentList.Add(a);
        }
        else
        {
            startInfo.FileName = file;
        }
        foreach (var a in args) startInfo.ArgumentList.Add(a);

        startInfo.WorkingDirectory = options.WorkingDirectory ?? (switchUser ? "/" : "");
        foreach (var (name, value) in options.Environment ?? new Dictionary<string, string?>())
        {
            if (value is null) startInfo.Environment.Remove(name);
            else startInfo.Environment[name] = value;
        }
        return startInfo;
    }

    // Reads in chunks into a shared buffer (rather than ReadToEndAsync) so that what was read before a timeout survives.
    private static async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer, 0, buffer.Length).ConfigureAwait(false)) > 0)
        {
            lock (into) into.Append(buffer, 0, read);
        }
    }

    private static async Task FeedAsync(StreamWriter stdin, string? text)
    {
        try
        {
            if (text is not null) await stdin.WriteAsync(text).ConfigureAwait(false);
            stdin.Close();
        }
        catch (IOException)
        {
            // The child exited without reading all of its input; its exit code tells the caller what happened.
        }
    }

    private static string Snapshot(StringBuilder buffer)
    {
        lock (buffer) return buffer.ToString();
    }

    private static void KillTree(Process process)
    {
        try { process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // it exited in the meantime
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && !arg.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '\\' or '$' or '`')
            ? arg
            : "'" + arg.Replace("'", "'\\''") + "'";
}
