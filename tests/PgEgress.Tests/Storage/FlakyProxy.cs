using System.Net;
using System.Net.Sockets;

namespace PgEgress.Tests.Storage;

/// <summary>
/// A loopback HTTP proxy in front of a real Azurite that answers chosen requests with 503 ServerBusy instead of
/// forwarding them: transient failures on demand, at a known request of an operation.
/// </summary>
internal sealed class FlakyProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Content-Length", "Transfer-Encoding", "Keep-Alive", "Expect",
    };

    private readonly HttpListener _listener = new();
    private readonly HttpClient _client = new();
    private readonly Uri _target;
    private readonly Func<int, bool> _fails;
    private readonly Task _loop;
    private int _requests;
    private int _failures;

    /// <param name="target">The Azurite blob endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1.</param>
    /// <param name="fails">Given the 1-based number of a request, whether to fail it.</param>
    public FlakyProxy(string target, Func<int, bool> fails)
    {
        _target = new Uri(target);
        _fails = fails;
        var port = FreeLoopbackPort();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        Endpoint = $"http://127.0.0.1:{port}{_target.AbsolutePath}";
        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>The proxied blob endpoint: the same account path, on the proxy's port.</summary>
    public string Endpoint { get; }

    public int Failures => Volatile.Read(ref _failures);

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _loop;
        _listener.Close();
        _client.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return; // stopped
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        using var body = new MemoryStream();
        await request.InputStream.CopyToAsync(body);
        if (_fails(Interlocked.Increment(ref _requests)))
        {
            Interlocked.Increment(ref _failures);
            response.StatusCode = 503;
            response.Headers["x-ms-error-code"] = "ServerBusy";
            response.Close();
            return;
        }

        using var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), new Uri(_target, request.RawUrl))
        {
            Content = new ByteArrayContent(body.ToArray()),
        };
        foreach (var name in request.Headers.AllKeys.OfType<string>().Where(n => !HopByHop.Contains(n)))
        {
            var values = request.Headers.GetValues(name)!;
            if (!forward.Headers.TryAddWithoutValidation(name, values))
            {
                forward.Content.Headers.TryAddWithoutValidation(name, values);
            }
        }

        using var answer = await _client.SendAsync(forward);
        response.StatusCode = (int)answer.StatusCode;
        foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers).Where(h => !HopByHop.Contains(h.Key)))
        {
            response.Headers[name] = string.Join(",", values);
        }

        var content = await answer.Content.ReadAsByteArrayAsync();
        response.ContentLength64 = content.Length;
        await response.OutputStream.WriteAsync(content);
        response.Close();
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
