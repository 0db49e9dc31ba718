using System.Security.Cryptography;
using System.Text;
using PgEgress.Core.Configuration;

namespace PgEgress.Host.Api;

/// <summary>The Functions "function key" contract: the key in x-functions-key or ?code=, compared in constant time.</summary>
public sealed class ApiKeyFilter(ApiOptions options) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        Refusal(context.HttpContext.Request, options) ?? await next(context);

    /// <summary>The 401 for a request without the right key; null when the key is right.</summary>
    public static IResult? Refusal(HttpRequest request, ApiOptions options)
    {
        var given = request.Headers["x-functions-key"].FirstOrDefault() ?? request.Query["code"].FirstOrDefault();
        if (string.IsNullOrEmpty(options.Key))
            return Results.Problem("no API key is configured (PgEgress__Api__Key); this route is refused", statusCode: StatusCodes.Status401Unauthorized);
        if (given is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(options.Key)))
            return Results.Problem("missing or wrong key: send it in the x-functions-key header or the code query parameter", statusCode: StatusCodes.Status401Unauthorized);
        return null;
    }
}
