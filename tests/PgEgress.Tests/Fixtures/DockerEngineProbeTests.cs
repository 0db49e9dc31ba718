using System.Diagnostics;
using System.Net.Sockets;
using PgEgress.Testing;

namespace PgEgress.Tests.Fixtures;

/// <summary>The Docker probe against a fake engine on a real unix socket or loopback port.</summary>
public sealed class DockerEngineProbeTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly string _dir = Directory.CreateTempSubdirectory("pgegress-docker-probe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_engine_answering_ping_OK_on_a_unix_socket_is_reachable()
    {
        await using var engine = FakeDockerEngine.OnUnixSocket(Path.Combine(_dir, "docker.sock"), FakeDockerEngine.PingOk);

        Assert.True(await DockerEngineProbe.IsReachableAsync(engine.DockerHost, Timeout));
        Assert.Equal(["GET /_ping HTTP/1.1"], engine.RequestLines);
    }

    [Fact]
    public async Task An_engine_answering_ping_OK_on_tcp_is_reachable()
    {
        await using var engine = FakeDockerEngine.OnLoopbackPort(FakeDockerEngine.PingOk);

        Assert.True(await DockerEngineProbe.IsReachableAsync(engine.DockerHost, Timeout));
    }

    [Fact]
    public async Task A_socket_file_nobody_listens_on_and_a_missing_socket_are_unreachable_at_once()
    {
        var stale = Path.Combine(_dir, "stale.sock");
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            socket.Bind(new UnixDomainSocketEndPoint(stale)); // the file stays, as after an engine that stopped
        var clock = Stopwatch.StartNew();

        Assert.False(await DockerEngineProbe.IsReachableAsync("unix://" + stale, Timeout));
        Assert.False(await DockerEngineProbe.IsReachableAsync("unix://" + Path.Combine(_dir, "missing.sock"), Timeout));
        Assert.True(clock.Elapsed < Timeout, $"refused connections took {clock.Elapsed}, as long as the timeout");
    }

    [Theory]
    [InlineData("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello")]
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")]
    public async Task Anything_but_200_OK_is_unreachable(string response)
    {
        await using var engine = FakeDockerEngine.OnLoopbackPort(response);

        Assert.False(await DockerEngineProbe.IsReachableAsync(engine.DockerHost, Timeout));
        Assert.Single(engine.RequestLines);
    }

    [Fact]
    public async Task An_endpoint_that_never_answers_is_unreachable_after_the_timeout()
    {
        await using var engine = FakeDockerEngine.OnLoopbackPort(response: null);

        Assert.False(await DockerEngineProbe.IsReachableAsync(engine.DockerHost, TimeSpan.FromMilliseconds(300)));
    }

    [Theory]
    [InlineData("ssh://user@host")]
    [InlineData("npipe:////./pipe/docker_engine")]
    [InlineData("not a uri")]
    public async Task Hosts_the_probe_cannot_reach_are_unreachable(string dockerHost)
    {
        Assert.False(await DockerEngineProbe.IsReachableAsync(dockerHost, Timeout));
    }
}
