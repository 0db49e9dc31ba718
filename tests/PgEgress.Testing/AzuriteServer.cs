using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgEgress.Testing;

/// <summary>
/// A throwaway Azurite (blob, queue and table services, in memory, each on a free loopback port) from the
/// repository's node_modules, or the existing one named by <see cref="ExternalServerVariable"/>. Disposing it kills
/// the process tree.
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    /// <summary>A connection string of an Azurite to use instead of starting one.</summary>
    public const string ExternalServerVariable = "PGEGRESS_TEST_AZURITE";

    /// <summary>Azurite's built-in account and its published, well-known key.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    public const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const string Tool = "azurite";
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(30);

    private readonly Process? _process;
    private readonly StringBuilder _output;

    private AzuriteServer(string blobEndpoint, string? queueEndpoint, string? tableEndpoint, string accountName, string accountKey,
        Process? process, StringBuilder output)
    {
        BlobEndpoint = blobEndpoint;
        QueueEndpoint = queueEndpoint;
        TableEndpoint = tableEndpoint;
        AccountName = accountName;
        AccountKey = accountKey;
        _process = process;
        _output = output;
    }

    /// <summary>The blob service URL, path-style: http://127.0.0.1:port/devstoreaccount1.</summary>
    public string BlobEndpoint { get; }

    /// <summary>The queue service URL, path-style; null for an external Azurite whose connection string names none.</summary>
    public string? QueueEndpoint { get; }

    /// <summary>The table service URL, path-style; null for an external Azurite whose connection string names none.</summary>
    public string? TableEndpoint { get; }

    public string AccountName { get; }

    /// <summary>The account key, base64 (for tests that sign something themselves, such as a SAS).</summary>
    public string AccountKey { get; }

    /// <summary>Every endpoint spelled out: the SDKs' defaults for the development account are fixed ports.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};"
        + (QueueEndpoint is null ? "" : $"QueueEndpoint={QueueEndpoint};")
        + (TableEndpoint is null ? "" : $"TableEndpoint={TableEndpoint};");

    /// <summary>What Azurite printed so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<AzuriteServer> StartAsync(CancellationToken ct = default)
    {
        if (Environment.GetEnvironmentVariable(ExternalServerVariable) is { Length: > 0 } external)
        {
            return FromConnectionString(external);
        }

        await NodeModules.EnsureInstalledAsync(Tool, ct);
        // A free port is found by binding and releasing it, so another process may take one before Azurite
        // does; Azurite then exits at once, and other ports are tried.
        for (var attempt = 1; ; attempt++)
        {
            var server = Launch(FreeLoopbackPorts(3));
            try
            {
                await server.WaitUntilListeningAsync(ct);
                return server;
            }
            catch (AzuriteExitedException) when (attempt < 3)
            {
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // It had exited already.
        }

        _process.Dispose();
    }

    private static AzuriteServer Launch(int[] ports)
    {
        string Port(int service) => ports[service].ToString(System.Globalization.CultureInfo.InvariantCulture);
        var start = new ProcessStartInfo(NodeModules.Bin(Tool))
        {
            // With in-memory persistence Azurite writes nothing; the temp folder keeps any stray file out of the checkout.
            WorkingDirectory = Path.GetTempPath(),
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] arguments =
        [
            "--inMemoryPersistence",
            "--blobHost", "127.0.0.1", "--blobPort", Port(0),
            "--queueHost", "127.0.0.1", "--queuePort", Port(1),
            "--tableHost", "127.0.0.1", "--tablePort", Port(2),
            "--skipApiVersionCheck", "--loose", "--silent",
            "--disableTelemetry", // no network here, and tests should not phone home anyway
        ];
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string Endpoint(int service) => $"http://127.0.0.1:{Port(service)}/{DevelopmentAccountName}";
        return new AzuriteServer(Endpoint(0), Endpoint(1), Endpoint(2), DevelopmentAccountName, DevelopmentAccountKey, process, output);
    }

    /// <summary>Polls each service's port until it accepts a connection, Azurite exits, or the deadline passes.</summary>
    private async Task WaitUntilListeningAsync(CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        foreach (var endpoint in new[] { BlobEndpoint, QueueEndpoint, TableEndpoint })
        {
            await WaitUntilListeningAsync(new Uri(endpoint!).Port, deadline, ct);
        }
    }

    private async Task WaitUntilListeningAsync(int port, Stopwatch deadline, CancellationToken ct)
    {
        while (true)
        {
            if (_process!.HasExited)
            {
                throw new AzuriteExitedException($"Azurite exited with code {_process.ExitCode} before listening on port {port}:\n{Output}");
            }

            using var probe = new TcpClient();
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, port, ct);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < StartDeadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
            }
            catch (SocketException e)
            {
                throw new TimeoutException($"Azurite did not listen on port {port} within {StartDeadline.TotalSeconds:0} s:\n{Output}", e);
            }
        }
    }

    private static AzuriteServer FromConnectionString(string connectionString)
    {
        var settings = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => entry.Split('=', 2))
            .ToDictionary(kv => kv[0].Trim(), kv => kv.Length > 1 ? kv[1].Trim() : "", StringComparer.OrdinalIgnoreCase);
        if (settings.TryGetValue("UseDevelopmentStorage", out var development) && development.Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            return new AzuriteServer($"http://127.0.0.1:10000/{DevelopmentAccountName}", $"http://127.0.0.1:10001/{DevelopmentAccountName}",
                $"http://127.0.0.1:10002/{DevelopmentAccountName}", DevelopmentAccountName, DevelopmentAccountKey, null, new StringBuilder());
        }

        string Required(string name) => settings.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new InvalidOperationException($"{ExternalServerVariable} has no {name}; give AccountName, AccountKey and BlobEndpoint, or UseDevelopmentStorage=true.");
        string? Optional(string name) => settings.TryGetValue(name, out var value) && value.Length > 0 ? value.TrimEnd('/') : null;
        return new AzuriteServer(Required("BlobEndpoint").TrimEnd('/'), Optional("QueueEndpoint"), Optional("TableEndpoint"),
            Required("AccountName"), Required("AccountKey"), null, new StringBuilder());
    }

    /// <summary>Distinct free ports: the listeners are all held until each has its port.</summary>
    private static int[] FreeLoopbackPorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private sealed class AzuriteExitedException(string message) : Exception(message);
}
