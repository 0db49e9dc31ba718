using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// A webhook receiver on loopback that takes a fixed time per request, as a real one does, and keeps a ledger of
/// what it answered 2xx: every event id in ack order, and each id that came again after it had been acknowledged.
/// It can be told to stop acknowledging after a number of events: later requests then hang until the sender gives up.
/// </summary>
internal sealed class SlowReceiver : IAsyncDisposable
{
    /// <param name="Key">The row's id; 0 for a truncate, which has no key.</param>
    public sealed record Ack(string Id, int Key, string Op)
    {
        public int Seq => int.Parse(Id[(Id.LastIndexOf('-') + 1)..]);
    }

    private readonly Lock _gate = new();
    private readonly List<Ack> _acked = [];
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _duplicates = [];
    private readonly TimeSpan _latency;
    private LoopbackReceiver? _http;
    private int _requests;
    private int _holdAfter = int.MaxValue;

    private SlowReceiver(TimeSpan latency) => _latency = latency;

    public string Url => _http!.Url;
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<SlowReceiver> StartAsync(TimeSpan latency)
    {
        var receiver = new SlowReceiver(latency);
        receiver._http = await LoopbackReceiver.StartAsync(receiver.HandleAsync);
        return receiver;
    }

    public int AckedCount
    {
        get { lock (_gate) return _acked.Count; }
    }

    public IReadOnlyList<Ack> Acked
    {
        get { lock (_gate) return [.. _acked]; }
    }

    public IReadOnlyList<string> Duplicates
    {
        get { lock (_gate) return [.. _duplicates]; }
    }

    /// <summary>From the request that would take the ledger to <paramref name="events"/> on, nothing is acknowledged.</summary>
    public void HoldAfter(int events)
    {
        lock (_gate) _holdAfter = events;
    }

    public bool Holding
    {
        get { lock (_gate) return _acked.Count >= _holdAfter; }
    }

    public void Release()
    {
        lock (_gate) _holdAfter = int.MaxValue;
    }

    private async Task HandleAsync(HttpContext http)
    {
        Interlocked.Increment(ref _requests);
        var aborted = http.RequestAborted;
        try
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = JsonDocument.Parse(await reader.ReadToEndAsync(aborted)).RootElement;
            var events = body.ValueKind == JsonValueKind.Array ? body.EnumerateArray().ToList() : [body];
            await Task.Delay(_latency, aborted);
            lock (_gate)
            {
                if (_acked.Count + events.Count <= _holdAfter)
                {
                    foreach (var e in events)
                    {
                        var id = e.GetProperty("id").GetString()!;
                        var data = e.GetProperty("data");
                        if (!_ids.Add(id)) _duplicates.Add(id);
                        var key = data.TryGetProperty("key", out var k) ? k.GetProperty("id").GetInt32() : 0;
                        _acked.Add(new Ack(id, key, data.GetProperty("op").GetString()!));
                    }
                    http.Response.StatusCode = 204;
                    return;
                }
                _holdAfter = Math.Min(_holdAfter, _acked.Count);
            }
            // Held: no answer until the sender gives up on this request.
            await Task.Delay(Timeout.InfiniteTimeSpan, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_http is not null) await _http.DisposeAsync();
    }
}
