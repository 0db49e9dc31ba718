using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using PgEgress.Core.Configuration;

namespace PgEgress.Host.Api;

/// <summary>
/// ASP.NET Core rate limiting of the API's mutating requests (POST, PUT, PATCH, DELETE) per client address: a fixed
/// window of a minute holding Api:MutatingRequestsPerMinute requests; reads, the status page and /metrics are not
/// limited. A refused request is 429 with Retry-After and a problem body.
/// </summary>
public static class MutatingRateLimit
{
    public static IServiceCollection AddMutatingRateLimit(this IServiceCollection services, ApiOptions api)
    {
        if (api.MutatingRequestsPerMinute == 0) return services;
        return services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)
                    ? RateLimitPartition.GetNoLimiter("reads")
                    : RateLimitPartition.GetFixedWindowLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = api.MutatingRequestsPerMinute,
                        Window = TimeSpan.FromMinutes(1),
                        QueueLimit = 0,
                    }));
            o.OnRejected = async (rejected, ct) =>
            {
                var response = rejected.HttpContext.Response;
                var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1);
                response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await Results.Problem($"more than {api.MutatingRequestsPerMinute} changing requests a minute from this address (PgEgress:Api:MutatingRequestsPerMinute); retry after the Retry-After seconds",
                    statusCode: StatusCodes.Status429TooManyRequests).ExecuteAsync(rejected.HttpContext);
            };
        });
    }
}
