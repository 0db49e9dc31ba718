using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgEgress.Testing;

/// <summary>
/// A throwaway clickhouse-server (Debian's 18.16, extracted by scripts/clickhouse.sh into .cache/clickhouse/root, or
/// the extracted tree named by <see cref="RootVariable"/>) with its own config and data folder, HTTP on a free
/// loopback port, and a user <see cref="User"/> with a password. Disposing it kills the server and deletes the folder.
/// </summary>
public sealed class ClickHouseServer : IAsyncDisposable
{
    /// <summary>A folder holding usr/sbin/clickhouse-server and its libraries (a dpkg -x of the packages).</summary>
    public const string RootVariable = "PGEGRESS_CLICKHOUSE_ROOT";

    public const string User = "pgegress";
    public const string Password = "ch-secret";

    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly string _folder;
    private readonly StringBuilder _output = new();

    private ClickHouseServer(Process process, string folder, int port)
    {
        (_process, _folder, Url) = (process, folder, $"http://127.0.0.1:{port}");
    }

    /// <summary>http://127.0.0.1:port</summary>
    public string Url { get; }

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    public static async Task<ClickHouseServer> StartAsync(CancellationToken ct = default)
    {
        var root = Environment.GetEnvironmentVariable(RootVariable) is { Length: > 0 } named ? named : Path.Combine(RepositoryRoot.Path, ".cache", "clickhouse", "root");
        var binary = Path.Combine(root, "usr", "sbin", "clickhouse-server");
        if (!File.Exists(binary))
            throw new InvalidOperationException($"No clickhouse-server at {binary}: run scripts/clickhouse.sh (scripts/test.sh does), or set {RootVariable} to an extracted clickhouse-server");
        var folder = Directory.CreateTempSubdirectory("pgegress-clickhouse-").FullName;
        var (http, tcp) = (FreeLoopbackPort(), FreeLoopbackPort());
        await File.WriteAllTextAsync(Path.Combine(folder, "config.xml"), $"""
            <?xml version="1.0"?>
            <yandex>
              <logger><level>warning</level><console>1</console></logger>
              <listen_host>127.0.0.1</listen_host>
              <http_port>{http}</http_port>
              <tcp_port>{tcp}</tcp_port>
              <path>{folder}/data/</path>
              <tmp_path>{folder}/tmp/</tmp_path>
              <users_config>{folder}/users.xml</users_config>
              <default_profile>default</default_profile>
              <default_database>default</default_database>
              <mark_cache_size>5368709</mark_cache_size>
            </yandex>
            """, ct);
        await File.WriteAllTextAsync(Path.Combine(folder, "users.xml"), $"""
            <?xml version="1.0"?>
            <yandex>
              <profiles><default></default></profiles>
              <quotas><default></default></quotas>
              <users>
                <{User}><password>{Password}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></{User}>
              </users>
            </yandex>
            """, ct);
        var start = new ProcessStartInfo(binary, ["--config-file", Path.Combine(folder, "config.xml")])
        {
            WorkingDirectory = folder,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["LD_LIBRARY_PATH"] = $"{Path.Combine(root, "usr", "lib", "x86_64-linux-gnu")}:{Path.Combine(root, "usr", "lib")}";
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{binary} did not start");
        var server = new ClickHouseServer(process, folder, http);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilAnsweringAsync(ct);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a statement as <see cref="User"/>; the answer, or an exception with ClickHouse's error.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken ct = default)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, Url + "/") { Content = new StringContent(sql) };
        request.Headers.Add("X-ClickHouse-User", User);
        request.Headers.Add("X-ClickHouse-Key", Password);
        using var response = await http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"ClickHouse: {(int)response.StatusCode} {body}\nfor: {sql}");
    }

    public async ValueTask DisposeAsync()
    {
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
        Directory.Delete(_folder, recursive: true);
    }

    private async Task WaitUntilAnsweringAsync(CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"clickhouse-server exited with {_process.ExitCode} before answering:\n{Output}");
            try
            {
                if ((await http.GetStringAsync(Url + "/ping", ct)).StartsWith("Ok", StringComparison.Ordinal)) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // Not listening yet.
            }
            if (clock.Elapsed > StartDeadline)
                throw new TimeoutException($"clickhouse-server did not answer {Url}/ping within {StartDeadline}:\n{Output}");
            await Task.Delay(100, ct);
        }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
