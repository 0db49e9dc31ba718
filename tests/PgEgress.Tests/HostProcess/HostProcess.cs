using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// PgEgress.Host as a real child process (dotnet PgEgress.Host.dll), configured by environment variables, so tests
/// can read its exit code and stderr, call its HTTP API, and kill it hard.
/// </summary>
public sealed partial class HostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _peakRss;

    private HostProcess(Process process) => _process = process;

    public int Pid => _process.Id;
    public string Url => _listening.Task.IsCompletedSuccessfully ? _listening.Task.Result : throw new InvalidOperationException("the host is not listening");
    public IEnumerable<string> StandardOutput => _stdout;
    public string StandardError => string.Join("\n", _stderr);
    public bool HasExited => _process.HasExited;

    /// <summary>Starts the host with these settings (names as environment variables, e.g. PgEgress__Source__Slot).</summary>
    public static HostProcess Start(IReadOnlyDictionary<string, string?> environment)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PgEgress.Host.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add("http://127.0.0.1:0");
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (k, v) in environment)
        {
            if (v is null) info.Environment.Remove(k);
            else info.Environment[k] = v;
        }
        var host = new HostProcess(Process.Start(info)!);
        host._process.OutputDataReceived += (_, e) => host.OnStdout(e.Data);
        host._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) host._stderr.Enqueue(e.Data); };
        host._process.BeginOutputReadLine();
        host._process.BeginErrorReadLine();
        return host;
    }

    private void OnStdout(string? line)
    {
        if (line is null)
        {
            _listening.TrySetException(new InvalidOperationException($"the host exited before listening; stderr: {StandardError}"));
            return;
        }
        _stdout.Enqueue(line);
        var match = ListeningPattern().Match(line);
        if (match.Success) _listening.TrySetResult(match.Groups[1].Value);
        SampleMemory();
    }

    [GeneratedRegex(@"Now listening on: (http://[0-9.:]+)")]
    private static partial Regex ListeningPattern();

    /// <summary>Waits until the host serves HTTP (its startup checks have passed).</summary>
    public async Task<string> WaitListeningAsync(TimeSpan timeout)
    {
        var done = await Task.WhenAny(_listening.Task, Task.Delay(timeout));
        if (done != _listening.Task) throw new TimeoutException($"the host did not start listening within {timeout}; stderr: {StandardError}");
        return await _listening.Task;
    }

    /// <summary>Waits for the host to exit by itself and returns its exit code.</summary>
    public async Task<int> WaitExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Waits until a JSON log line's message contains <paramref name="text"/>.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_stdout.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (_process.HasExited) throw new InvalidOperationException($"the host exited (code {_process.ExitCode}) before logging '{text}'; stderr: {StandardError}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the host did not log '{text}' within {timeout}");
            await Task.Delay(50);
        }
    }

    /// <summary>The structured log records (one JSON object per stdout line).</summary>
    public IEnumerable<JsonElement> LogRecords() =>
        _stdout.Select(l => { try { return JsonDocument.Parse(l).RootElement.Clone(); } catch (JsonException) { return default; } })
               .Where(e => e.ValueKind == JsonValueKind.Object);

    /// <summary>Peak resident memory seen so far (VmHWM), sampled on every log line and on request.</summary>
    public long PeakRssBytes
    {
        get
        {
            SampleMemory();
            return Interlocked.Read(ref _peakRss);
        }
    }

    private void SampleMemory()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
                long seen;
                while ((seen = Interlocked.Read(ref _peakRss)) < kb * 1024 && Interlocked.CompareExchange(ref _peakRss, kb * 1024, seen) != seen) { }
            }
        }
        catch (IOException) { }
        catch (InvalidOperationException) { }
    }

    /// <summary>SIGKILL: no shutdown code runs, exactly like a crash.</summary>
    public async Task KillAsync()
    {
        SampleMemory();
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as a container stop sends: the host shuts down cleanly.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        await SendTerminateAsync();
        return await WaitExitAsync(timeout);
    }

    /// <summary>Sends SIGTERM and returns at once, for a test that acts while the host shuts down.</summary>
    public async Task SendTerminateAsync()
    {
        SampleMemory();
        if (_process.HasExited) return;
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]);
        await kill.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) await KillAsync();
        _process.Dispose();
    }
}
