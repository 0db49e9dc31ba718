using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace PgEgress.Bench;

/// <summary>
/// The raw HTTP ceiling of the sinks benchmark: a plain HttpClient loop posting pre-serialized CloudEvents bodies (the
/// exact bytes PgEgress's CloudEventsEndpoint builds for the same events) to the same receiver with K concurrent senders.
/// No PgEgress: no staged log, no partitioning, no retry pipeline, no cursor. The handler is set up as SinkRunners sets
/// up each sink's (SocketsHttpHandler, 5 min pooled connection lifetime, automatic decompression, no client timeout).
/// </summary>
public static class SinkBaseline
{
    public const string Contender = "raw HttpClient";

    public static async Task<SinkRun> RunAsync(int run, SinkReceiver receiver, IReadOnlyList<byte[]> bodies, int batch, int senders,
        long events, CancellationToken ct)
    {
        var url = new Uri(receiver.Url + "/events");
        var contentType = batch > 1 ? "application/cloudevents-batch+json" : "application/cloudevents+json";
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AutomaticDecompression = DecompressionMethods.All })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        SinkBench.Settle();
        var recording = receiver.Record(events);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, senders).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < bodies.Count)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(bodies[i]) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType) { CharSet = "utf-8" };
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
                if (!response.IsSuccessStatusCode) throw new HttpRequestException($"the receiver answered {(int)response.StatusCode}");
            }
        }, ct)).ToArray();
        await Task.WhenAll(workers);
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        var done = await recording.Complete.WaitAsync(TimeSpan.FromSeconds(30), ct);
        return new SinkRun(Contender, senders, batch, run, Stopwatch.GetElapsedTime(start, done), recording.Distinct, recording.Requests,
            recording.Repeats, cpuUsed);
    }
}
