using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgEgress.Tests.Fixtures;

/// <summary>
/// Answers every HTTP request on a unix socket or loopback TCP port with one fixed response, as the Docker engine
/// answers <c>GET /_ping</c> (200, text/plain, body "OK"); records the request lines it got.
/// </summary>
internal sealed class FakeDockerEngine : IAsyncDisposable
{
    public const string PingOk = "HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK";

    private readonly Socket _listener;
    private readonly string? _response; // null: accept and never answer
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private readonly List<string> _requestLines = [];

    private FakeDockerEngine(Socket listener, string? response)
    {
        _listener = listener;
        _response = response;
        _listener.Listen();
        _serving = ServeAsync();
    }

    /// <summary>DOCKER_HOST for this engine.</summary>
    public required string DockerHost { get; init; }

    public IReadOnlyList<string> RequestLines
    {
        get
        {
            lock (_requestLines) return [.. _requestLines];
        }
    }

    public static FakeDockerEngine OnUnixSocket(string path, string? response)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return new FakeDockerEngine(socket, response) { DockerHost = "unix://" + path };
    }

    public static FakeDockerEngine OnLoopbackPort(string? response)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new FakeDockerEngine(socket, response) { DockerHost = $"tcp://127.0.0.1:{((IPEndPoint)socket.LocalEndPoint!).Port}" };
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _serving;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }

    private async Task ServeAsync()
    {
        while (true)
        {
            var client = await _listener.AcceptAsync(_stop.Token);
            _ = Task.Run(() => AnswerAsync(client));
        }
    }

    private async Task AnswerAsync(Socket client)
    {
        using (client)
        await using (var stream = new NetworkStream(client))
        {
            try
            {
                var request = new StringBuilder();
                var buffer = new byte[1024];
                while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(buffer, _stop.Token);
                    if (read == 0) return;
                    request.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }
                lock (_requestLines) _requestLines.Add(request.ToString().Split("\r\n")[0]);
                if (_response is null)
                {
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                    return;
                }
                await stream.WriteAsync(Encoding.ASCII.GetBytes(_response), _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // Stopped, or the probe gave up and closed its end.
            }
        }
    }
}
