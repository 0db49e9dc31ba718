using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace PgEgress.Bench;

/// <summary>
/// The webhook endpoint of the sinks benchmark: an HTTP/1.1 server on a loopback port in this process that answers
/// every request with 204 at once and then records, per CloudEvents id in the body (one event, or a JSON array of them),
/// when it arrived and the event's <c>time</c> (the transaction's commit timestamp). Given a latency, it answers each
/// request only that long after it arrived, as a receiver doing real work does.
/// </summary>
/// <remarks>
/// Not Kestrel: the bench project has no ASP.NET Core framework reference. It is a minimal keep-alive HTTP/1.1 server
/// (Content-Length bodies only, which is all HttpClient sends for byte-array content): one task per connection reads
/// the request line, headers and body from the socket, writes "204 No Content", then parses the body with
/// Utf8JsonReader. The same server, at the same cost, serves the raw HttpClient baseline and PgEgress.
/// </remarks>
public sealed class SinkReceiver : IAsyncDisposable
{
    private static readonly byte[] NoContent = "HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray();
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private volatile Recording _recording = new(0);
    private readonly TimeSpan _latency;

    private SinkReceiver(Socket listener, TimeSpan latency)
    {
        (_listener, _latency) = (listener, latency);
        Url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}";
        _accept = Task.Run(AcceptAsync);
    }

    /// <summary>The base URL, e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public string Url { get; }

    public static SinkReceiver Start(TimeSpan latency = default)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(512);
        return new SinkReceiver(listener, latency);
    }

    /// <summary>Records what arrives from now on in a new recording, which completes when <paramref name="expected"/> distinct ids have arrived.</summary>
    public Recording Record(long expected) => _recording = new Recording(expected);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            socket.NoDelay = true;
            _connections[socket] = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var ct = _stop.Token;
        var buffer = new byte[16 * 1024];
        int start = 0, end = 0;

        // Reads more bytes after the unread ones [start, end), moving them to the front or growing the buffer first.
        async ValueTask<bool> FillAsync(int need)
        {
            if (start > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                (end, start) = (end - start, 0);
            }
            if (buffer.Length < need || end == buffer.Length)
                Array.Resize(ref buffer, Math.Max(need, buffer.Length * 2));
            var n = await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, ct);
            end += n;
            return n > 0;
        }

        try
        {
            while (true)
            {
                int headerLength;
                while ((headerLength = buffer.AsSpan(start, end - start).IndexOf("\r\n\r\n"u8)) < 0)
                    if (!await FillAsync(0)) return;
                var bodyLength = ContentLength(buffer.AsSpan(start, headerLength));
                var requestLength = headerLength + 4 + bodyLength;
                while (end - start < requestLength)
                    if (!await FillAsync(requestLength)) return;
                var arrivedTicks = Stopwatch.GetTimestamp();
                var arrivedUtc = DateTime.UtcNow;
                if (_latency > TimeSpan.Zero) await Task.Delay(_latency, ct);
                await socket.SendAsync(NoContent, SocketFlags.None, ct);
                _recording.Add(buffer.AsSpan(start + headerLength + 4, bodyLength), arrivedTicks, arrivedUtc);
                start += requestLength;
                if (start == end) start = end = 0;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            _connections.TryRemove(socket, out _);
            socket.Dispose();
        }
    }

    private static int ContentLength(ReadOnlySpan<byte> header)
    {
        var length = 0;
        foreach (var range in header.Split("\r\n"u8))
        {
            var line = header[range];
            if (line.Length > 15 && Ascii.EqualsIgnoreCase(line[..15], "content-length:"u8))
            {
                if (!Utf8Parser.TryParse(line[15..].Trim((byte)' '), out length, out _))
                    throw new InvalidDataException("bad Content-Length");
            }
            else if (line.Length > 18 && Ascii.EqualsIgnoreCase(line[..18], "transfer-encoding:"u8))
                throw new InvalidDataException("the bench receiver reads Content-Length bodies only");
        }
        return length;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accept;
        foreach (var socket in _connections.Keys)
        {
            try { socket.Shutdown(SocketShutdown.Both); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }
        await Task.WhenAll(_connections.Values);
        _stop.Dispose();
    }

    /// <summary>One event as it first arrived.</summary>
    /// <param name="Ticks">Stopwatch timestamp of the request's arrival (its body fully read).</param>
    /// <param name="ArrivedUtc">The wall clock at the same moment (the database's clock: the same machine).</param>
    /// <param name="Commit">The event's CloudEvents time: its transaction's commit timestamp.</param>
    public readonly record struct Arrival(long Ticks, DateTime ArrivedUtc, DateTime Commit);

    /// <summary>The distinct events that arrived since <see cref="Record"/>, with counts of requests and repeats.</summary>
    public sealed class Recording
    {
        private readonly long _expected;
        private readonly ConcurrentDictionary<string, Arrival> _seen;
        private readonly TaskCompletionSource<long> _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _distinct, _requests, _events;

        internal Recording(long expected)
        {
            _expected = expected;
            _seen = new ConcurrentDictionary<string, Arrival>(Environment.ProcessorCount * 4, (int)Math.Min(expected + 16, int.MaxValue));
            if (expected == 0) _complete.TrySetResult(Stopwatch.GetTimestamp());
        }

        /// <summary>Completes with the Stopwatch timestamp of the request that brought the last missing id.</summary>
        public Task<long> Complete => _complete.Task;

        public long Distinct => Interlocked.Read(ref _distinct);
        public long Requests => Interlocked.Read(ref _requests);

        /// <summary>Events received again after their first arrival (redeliveries).</summary>
        public long Repeats => Interlocked.Read(ref _events) - Distinct;

        public IReadOnlyDictionary<string, Arrival> Arrivals => _seen;

        internal void Add(ReadOnlySpan<byte> body, long ticks, DateTime arrivedUtc)
        {
            Interlocked.Increment(ref _requests);
            var reader = new Utf8JsonReader(body);
            if (!reader.Read()) throw new InvalidDataException("empty request body");
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.StartObject) AddEvent(ref reader, ticks, arrivedUtc);
            }
            else AddEvent(ref reader, ticks, arrivedUtc);
        }

        private void AddEvent(ref Utf8JsonReader reader, long ticks, DateTime arrivedUtc)
        {
            string? id = null;
            var commit = default(DateTime);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = reader.GetString();
                }
                else if (reader.ValueTextEquals("time"u8))
                {
                    reader.Read();
                    commit = reader.GetDateTimeOffset().UtcDateTime;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            if (id is null) throw new InvalidDataException("an event without an id");
            Interlocked.Increment(ref _events);
            if (!_seen.TryAdd(id, new Arrival(ticks, arrivedUtc, commit))) return;
            if (Interlocked.Increment(ref _distinct) == _expected) _complete.TrySetResult(ticks);
        }
    }
}
