using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Host.Api;

namespace PgEgress.Functions.Tests.Http;

/// <summary>One route the Host serves, and whether it wants the key.</summary>
internal sealed record HostRoute(string Method, string Path, bool Keyed);

/// <summary>
/// The Host's routes as the Host maps them: <see cref="ApiRoutes.MapPgEgressApi"/> on an in-memory server with the
/// engine's services over a source that does not exist (nothing connects until a handler runs), its endpoint data
/// sources enumerated. Whether a route wants the key is asked the Host itself: a request without the key is 401 on a
/// keyed route, and the same request with the key is not.
/// </summary>
internal static class HostRoutes
{
    public const string Key = "route-parity-key";

    public static async Task<IReadOnlyList<HostRoute>> ReadAsync()
    {
        var work = Directory.CreateTempSubdirectory("pgegress-routes-");
        try
        {
            var options = new PgEgressOptions
            {
                // Port 1 on loopback: refused at once if a handler does connect.
                Source = { ConnectionString = "Host=127.0.0.1;Port=1;Database=none;Username=none;Timeout=2" },
                Storage = { Kind = StorageKind.FileSystem, Path = Path.Combine(work.FullName, "out") },
                Api = { Key = Key },
                WorkDirectory = Path.Combine(work.FullName, "work"),
            };
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
            builder.WebHost.UseTestServer();
            builder.Logging.ClearProviders();
            builder.Services.AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot);
            builder.Services.AddSingleton(options.Api);
            await using var app = builder.Build();
            app.MapPgEgressApi();
            await app.StartAsync();

            var endpoints = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>().ToList();
            var client = app.GetTestClient();
            var routes = new List<HostRoute>();
            foreach (var endpoint in endpoints)
            {
                var path = PathOf(endpoint.RoutePattern);
                var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"];
                foreach (var method in methods)
                {
                    using var anonymous = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
                    var keyed = anonymous.StatusCode == HttpStatusCode.Unauthorized;
                    if (keyed)
                        Assert.True(await PassesWithKeyAsync(client, method, path), $"{method} {path} answers 401 even with the key");
                    routes.Add(new HostRoute(method.ToUpperInvariant(), path, keyed));
                }
            }
            await app.StopAsync();
            return routes;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>With the key the request gets past the key filter: the handler answers, or throws on the missing source.</summary>
    private static async Task<bool> PassesWithKeyAsync(HttpClient client, string method, string path)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Add("x-functions-key", Key);
        try
        {
            using var answer = await client.SendAsync(request);
            return answer.StatusCode != HttpStatusCode.Unauthorized;
        }
        catch (Npgsql.NpgsqlException)
        {
            // The in-memory server hands the handler's failure to the client: the handler ran, so the key was accepted.
            return true;
        }
    }

    private static string PathOf(RoutePattern pattern) =>
        "/" + string.Join("/", pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content,
            RoutePatternParameterPart parameter => $"{{{parameter.Name}}}",
            RoutePatternSeparatorPart separator => separator.Content,
            _ => throw new NotSupportedException($"route part {part}"),
        }))));
}
