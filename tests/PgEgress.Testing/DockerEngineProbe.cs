using System.Net;
using System.Net.Sockets;

namespace PgEgress.Testing;

/// <summary>
/// Whether a Docker engine answers, asked the way the Docker client finds it: <c>DOCKER_HOST</c> (unix:// or plain
/// tcp://), else /var/run/docker.sock. A docker CLI without a running engine, a socket file nobody listens on, a
/// TLS-only endpoint or any other scheme all count as unreachable.
/// </summary>
public static class DockerEngineProbe
{
    public const string HostVariable = "DOCKER_HOST";
    public const string DefaultSocket = "/var/run/docker.sock";

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(3);

    public static Task<bool> IsReachableAsync() => IsReachableAsync(Environment.GetEnvironmentVariable(HostVariable), DefaultTimeout);

    /// <summary>True when <c>GET /_ping</c> on <paramref name="dockerHost"/> (null: the default socket) answers 200 "OK" within <paramref name="timeout"/>.</summary>
    public static async Task<bool> IsReachableAsync(string? dockerHost, TimeSpan timeout)
    {
        if (!TryResolve(dockerHost, out var baseAddress, out var socketPath)) return false;
        using var handler = new SocketsHttpHandler { ConnectTimeout = timeout };
        if (socketPath is not null) handler.ConnectCallback = (_, ct) => ConnectUnixAsync(socketPath, ct);
        using var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(new Uri("/_ping", UriKind.Relative)).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK
                   && (await response.Content.ReadAsStringAsync().ConfigureAwait(false)).Trim() == "OK";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return false;
        }
    }

    private static bool TryResolve(string? dockerHost, out Uri baseAddress, out string? socketPath)
    {
        baseAddress = new Uri("http://docker/");
        socketPath = null;
        if (string.IsNullOrWhiteSpace(dockerHost))
        {
            socketPath = DefaultSocket;
            return true;
        }
        if (!Uri.TryCreate(dockerHost, UriKind.Absolute, out var uri)) return false;
        switch (uri.Scheme)
        {
            case "unix":
                socketPath = uri.AbsolutePath;
                return true;
            case "tcp":
                baseAddress = new UriBuilder("http", uri.Host, uri.IsDefaultPort ? 2375 : uri.Port).Uri;
                return true;
            default:
                return false; // npipe:// is Windows only; ssh:// would need the docker CLI's own transport
        }
    }

    private static async ValueTask<Stream> ConnectUnixAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
