using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Sinks;

/// <summary>
/// Sends one request per batch until the endpoint takes it. 408, 429, 5xx, timeouts and network errors are retried
/// for as long as it takes (exponential backoff with jitter, Retry-After honoured), behind a circuit breaker that stops
/// hammering an endpoint that keeps failing; any other 4xx is retried up to MaxRetries attempts and then written, with
/// the response, to the dead-letter area of the object store, and delivery moves on. A rejected batch is sent again
/// event by event, so only the events the endpoint rejects on their own are dead-lettered.
/// </summary>
public sealed class EventDelivery
{
    private readonly string _sink;
    private readonly SinkOptions _options;
    private readonly IEventEndpoint _endpoint;
    private readonly HttpClient _http;
    private readonly IObjectStore _store;
    private readonly SinkMetrics.Counters _metrics;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    /// <param name="permanentMaxDelay">The longest pause between attempts answered 401 or 403.</param>
    public EventDelivery(string sink, SinkOptions options, IEventEndpoint endpoint, HttpClient http, IObjectStore store, SinkMetrics.Counters metrics,
        TimeSpan permanentMaxDelay, ILogger logger)
    {
        (_sink, _options, _endpoint, _http, _store, _metrics, _logger) = (sink, options, endpoint, http, store, metrics, logger);
        var retryable = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .Handle<TimeoutRejectedException>()
            .Handle<BrokenCircuitException>()
            .HandleResult(r => endpoint.Classify(r.StatusCode) == DeliveryOutcome.Retry);
        _pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = retryable,
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                // A 401/403 (wrong key, missing right) waits as long as a permanent failure of the loops does.
                DelayGenerator = args => new ValueTask<TimeSpan?>(RetryAfter(args.Outcome.Result)
                    ?? (KindOf(args.Outcome) == FailureKind.Permanent ? FailureClassifier.PermanentDelay(args.AttemptNumber, permanentMaxDelay) : null)),
                OnRetry = args =>
                {
                    _metrics.AddRetried();
                    var why = args.Outcome.Exception?.Message ?? $"HTTP {(int)args.Outcome.Result!.StatusCode}";
                    if (_metrics.Failed(why, KindOf(args.Outcome)) && KindOf(args.Outcome) == FailureKind.Permanent)
                        _logger.LogError("Sink {Sink}: {Reason}, a permanent failure; retrying in {Delay}, less often after, until it is fixed", _sink, why, args.RetryDelay);
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = retryable,
                FailureRatio = 0.8,
                MinimumThroughput = 20,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = TimeSpan.FromSeconds(5),
                OnOpened = _ =>
                {
                    _logger.LogWarning("Sink {Sink}: the endpoint keeps failing; pausing requests for 5 s", _sink);
                    return default;
                },
            })
            .AddTimeout(options.Timeout)
            .Build();
    }

    /// <summary>Returns once the batch is delivered or dead-lettered; only cancellation ends it otherwise (the batch is then delivered again later).</summary>
    public async Task DeliverAsync(IReadOnlyList<SinkEvent> batch, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await _pipeline.ExecuteAsync(async token =>
            {
                if (await _endpoint.PrepareAsync(batch, _http, token) is { } refusal) return refusal;
                using var request = _endpoint.Build(batch);
                return await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, token);
            }, ct);
            if (_endpoint.Classify(response.StatusCode) == DeliveryOutcome.Delivered)
            {
                _metrics.AddDelivered(batch.Count, batch.Min(e => e.Txn.CommitTimestamp));
                return;
            }
            var body = await response.Content.ReadAsStringAsync(ct);
            _metrics.Failed($"HTTP {(int)response.StatusCode} for {batch[0].Id}: {Clip(body)}", FailureClassifier.ForHttpStatus((int)response.StatusCode));
            if (batch.Count > 1)
            {
                // One bad event must not take its neighbours to the dead-letter area: send them one by one.
                foreach (var e in batch) await DeliverAsync([e], ct);
                return;
            }
            if (attempt >= _options.MaxRetries)
            {
                await DeadLetterAsync(batch, response.StatusCode, body, ct);
                return;
            }
            _metrics.AddRetried();
            await Task.Delay(_options.RetryDelay * attempt, ct);
        }
    }

    /// <summary>_deadletter/{sink}/{first event id}.json: the events and the endpoint's answer, written before delivery moves on.</summary>
    private async Task DeadLetterAsync(IReadOnlyList<SinkEvent> batch, HttpStatusCode status, string body, CancellationToken ct)
    {
        using var request = _endpoint.Build(batch);
        var record = JsonSerializer.SerializeToUtf8Bytes(new
        {
            sink = _sink,
            events = batch.Select(e => e.Id).ToArray(),
            status = (int)status,
            response = Clip(body, 16_384),
            request = await request.Content!.ReadAsStringAsync(ct),
            at = DateTime.UtcNow,
        });
        var path = $"{DeadLetterPrefix(_sink)}{batch[0].Id.Replace('/', '_')}.json";
        await using (var stream = new MemoryStream(record))
            await _store.PutAsync(path, stream, CancellationToken.None);
        _metrics.AddDeadLettered(batch.Count);
        _logger.LogWarning("Sink {Sink}: HTTP {Status} for {Events} event(s) from {First} after {Attempts} attempt(s); dead-lettered to {Path}",
            _sink, (int)status, batch.Count, batch[0].Id, _options.MaxRetries, path);
    }

    private static FailureKind KindOf(Outcome<HttpResponseMessage> outcome) => outcome.Exception is { } e
        ? FailureClassifier.Classify(e)
        : FailureClassifier.ForHttpStatus((int)outcome.Result!.StatusCode);

    public static string DeadLetterPrefix(string sink) => $"_deadletter/{sink}/";

    /// <summary>Retry-After as seconds or an HTTP date (at most five minutes); null lets the backoff decide.</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage? response)
    {
        var header = response?.Headers.RetryAfter;
        var wait = header?.Delta ?? (header?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        return wait is null ? null : TimeSpan.FromTicks(Math.Clamp(wait.Value.Ticks, 0, MaxRetryAfter.Ticks));
    }

    private static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(5);

    private static string Clip(string s, int max = 300) => s.Length <= max ? s : s[..max] + "…";
}
