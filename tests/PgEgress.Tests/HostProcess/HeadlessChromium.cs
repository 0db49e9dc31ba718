using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// Debian's Chromium, headless, driven over the DevTools protocol (a WebSocket on a port Chromium picks and writes to
/// DevToolsActivePort), so a test types into a page and reads what it rendered as a user would see it.
/// scripts/test.sh installs the package when it is missing; PGEGRESS_CHROMIUM names another binary.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly DirectoryInfo _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly ConcurrentDictionary<string, Func<JsonObject, Task>> _handlers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly StringBuilder _stderr = new();
    private Task _reader = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(Process process, DirectoryInfo profile) => (_process, _profile) = (process, profile);

    public static async Task<HeadlessChromium> StartAsync(int width = 1280, int height = 900)
    {
        var binary = Environment.GetEnvironmentVariable("PGEGRESS_CHROMIUM") ?? "chromium";
        var profile = Directory.CreateTempSubdirectory("pgegress-chromium-");
        var info = new ProcessStartInfo(binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[]
                 {
                     "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                     "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0", $"--user-data-dir={profile.FullName}",
                     $"--window-size={width},{height}", "about:blank",
                 })
            info.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            profile.Delete(recursive: true);
            throw new InvalidOperationException($"cannot start '{binary}' ({e.Message}): install Debian's chromium package (scripts/test.sh does) or set PGEGRESS_CHROMIUM", e);
        }
        var browser = new HeadlessChromium(process, profile);
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (browser._stderr) browser._stderr.AppendLine(e.Data); };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await browser.ConnectAsync();
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
        return browser;
    }

    private string StandardError { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Chromium writes its port to DevToolsActivePort once it listens; the page target's socket is listed at /json/list.</summary>
    private async Task ConnectAsync()
    {
        var file = Path.Combine(_profile.FullName, "DevToolsActivePort");
        var port = await Eventually.ValueAsync(() =>
        {
            if (_process.HasExited) throw new InvalidOperationException($"chromium exited with {_process.ExitCode}: {StandardError}");
            try
            {
                var first = File.Exists(file) ? File.ReadAllLines(file).FirstOrDefault() : null;
                return Task.FromResult(int.TryParse(first, out var p) ? p : (int?)null);
            }
            catch (IOException)
            {
                return Task.FromResult<int?>(null);
            }
        }, TimeSpan.FromSeconds(30), "chromium to write DevToolsActivePort");
        using var http = new HttpClient { Timeout = CommandTimeout };
        var target = await Eventually.ValueAsync(async () =>
        {
            var list = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"))!.AsArray();
            return list.FirstOrDefault(t => (string?)t!["type"] == "page")?["webSocketDebuggerUrl"]?.GetValue<string>();
        }, TimeSpan.FromSeconds(30), "chromium to list its page target");
        using var connect = new CancellationTokenSource(CommandTimeout);
        await _socket.ConnectAsync(new Uri(target), connect.Token);
        _reader = Task.Run(ReadLoopAsync);
        await SendAsync("Page.enable");
        await SendAsync("Runtime.enable");
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage) continue;
                var node = JsonNode.Parse(message.ToArray())!.AsObject();
                message.SetLength(0);
                if (node["id"] is { } id && _pending.TryRemove(id.GetValue<int>(), out var waiter)) waiter.TrySetResult(node);
                // Off the reading loop: a handler sends commands and waits for their answers, which this loop reads.
                else if (node["method"]?.GetValue<string>() is { } method && _handlers.TryGetValue(method, out var handler))
                    _ = Task.Run(() => handler(node["params"]!.AsObject()));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        foreach (var waiter in _pending.Values) waiter.TrySetException(new InvalidOperationException($"the DevTools connection closed; chromium stderr: {StandardError}"));
    }

    /// <summary>Runs <paramref name="handler"/> with the parameters of every <paramref name="method"/> event (e.g. Fetch.requestPaused).</summary>
    public void On(string method, Func<JsonObject, Task> handler) => _handlers[method] = handler;

    /// <summary>One DevTools command and its result; a protocol error throws.</summary>
    public async Task<JsonObject> SendAsync(string method, object? parameters = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var waiter = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = waiter;
        var payload = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        using (var send = new CancellationTokenSource(CommandTimeout))
            await _socket.SendAsync(payload, WebSocketMessageType.Text, true, send.Token);
        var answer = await waiter.Task.WaitAsync(CommandTimeout);
        if (answer["error"] is { } error) throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}");
        return answer["result"]!.AsObject();
    }

    /// <summary>Loads a page and waits until its load event has fired.</summary>
    public async Task NavigateAsync(string url)
    {
        await SendAsync("Page.navigate", new { url });
        await Eventually.ValueAsync(async () => await EvaluateAsync<string>("document.readyState") == "complete" ? "loaded" : null,
            TimeSpan.FromSeconds(30), $"{url} to load");
    }

    /// <summary>Evaluates a JavaScript expression in the page and returns its JSON value.</summary>
    public async Task<T> EvaluateAsync<T>(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result["exceptionDetails"] is { } failure) throw new InvalidOperationException($"'{expression}' threw: {failure.ToJsonString()}");
        return result["result"]!["value"].Deserialize<T>()!;
    }

    /// <summary>Types text into the focused element as a keyboard would, then presses Enter.</summary>
    public async Task TypeAndEnterAsync(string text)
    {
        await SendAsync("Input.insertText", new { text });
        await SendAsync("Input.dispatchKeyEvent", new { type = "keyDown", key = "Enter", code = "Enter", windowsVirtualKeyCode = 13, text = "\r" });
        await SendAsync("Input.dispatchKeyEvent", new { type = "keyUp", key = "Enter", code = "Enter", windowsVirtualKeyCode = 13 });
    }

    public async Task<byte[]> ScreenshotAsync()
    {
        var shot = await SendAsync("Page.captureScreenshot", new { format = "png", captureBeyondViewport = true });
        return Convert.FromBase64String(shot["data"]!.GetValue<string>());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try { await _reader; } catch (Exception) { }
        _socket.Dispose();
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _stop.Dispose();
        try { _profile.Delete(recursive: true); } catch (IOException) { }
    }
}
