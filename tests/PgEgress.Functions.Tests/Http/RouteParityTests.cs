using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Azure.Functions.Worker;
using PgEgress.Functions.Tests.App;

namespace PgEgress.Functions.Tests.Http;

/// <summary>
/// The Host and the Functions app serve the same HTTP API: every route the Host maps is an HTTP trigger with the same
/// method and path (under host.json's route prefix), function-key protected exactly where the Host wants its key, and
/// the Functions app has no route the Host lacks, except the few listed in <see cref="FunctionsOnly"/> (and the reverse, <see cref="HostOnly"/>). The Functions
/// side is what the build declared in functions.metadata, the file the Functions host indexes.
/// </summary>
public sealed partial class RouteParityTests
{
    /// <summary>
    /// Routes only the Functions app has, each with the reason. They steer the Durable ingest orchestration; the Host's
    /// ingest is a background loop that lives and dies with its process.
    /// </summary>
    private static readonly Dictionary<string, string> FunctionsOnly = new(StringComparer.Ordinal)
    {
        ["POST /api/ingest/start"] = "starts the eternal ingest orchestration",
        ["POST /api/ingest/stop"] = "terminates the eternal ingest orchestration",
        ["GET /api/ingest/status"] = "the ingest orchestration's runtime status and state",
    };

    /// <summary>
    /// Routes only the Host has, each with the reason: the status page at the site root, which a Functions app cannot
    /// serve under its "api" prefix; both serve it at GET /api/page.
    /// </summary>
    private static readonly Dictionary<string, string> HostOnly = new(StringComparer.Ordinal)
    {
        ["GET /"] = "the status page at the site root; GET /api/page on both runtimes",
    };

    [Fact]
    public async Task Every_Host_route_is_an_HTTP_trigger_and_the_reverse()
    {
        var host = (await HostRoutes.ReadAsync()).Select(r => Key(r.Method, r.Path)).ToHashSet(StringComparer.Ordinal);
        var functions = FunctionRoutes().Select(r => r.Key).ToHashSet(StringComparer.Ordinal);

        Assert.NotEmpty(host);
        var missingInFunctions = host.Except(functions).Except(HostOnly.Keys).Order().ToList();
        var missingInHost = functions.Except(host).Except(FunctionsOnly.Keys).Order().ToList();
        Assert.True(missingInFunctions.Count == 0 && missingInHost.Count == 0,
            $"Host routes without an HTTP trigger: [{string.Join(", ", missingInFunctions)}]; HTTP triggers without a Host route: [{string.Join(", ", missingInHost)}]");
    }

    [Fact]
    public async Task Function_keys_guard_exactly_the_routes_the_Host_keys()
    {
        var host = (await HostRoutes.ReadAsync()).ToDictionary(r => Key(r.Method, r.Path), r => r.Keyed, StringComparer.Ordinal);
        var mismatches = new List<string>();
        foreach (var (key, level, where) in FunctionRoutes())
        {
            // Only Function (a function or host key) matches the Host's key; Anonymous matches the Host's open routes.
            var expected = host.TryGetValue(key, out var keyed) ? (keyed ? "Function" : "Anonymous") : "Function";
            if (level != expected) mismatches.Add($"{key} at {where} is AuthorizationLevel.{level}, expected {expected}");
        }
        Assert.True(mismatches.Count == 0, string.Join("; ", mismatches));
        Assert.Contains(host, r => !r.Value); // health stays open: the platform's health check calls it without a key
    }

    [Fact]
    public async Task The_one_runtime_routes_exist_and_only_there()
    {
        var host = (await HostRoutes.ReadAsync()).Select(r => Key(r.Method, r.Path)).ToHashSet(StringComparer.Ordinal);
        var functions = FunctionRoutes().Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var route in FunctionsOnly.Keys)
        {
            Assert.True(functions.Contains(route), $"{route} is listed as Functions-only but no HTTP trigger declares it");
            Assert.False(host.Contains(route), $"{route} is listed as Functions-only but the Host serves it too: remove it from the list");
        }
        foreach (var route in HostOnly.Keys)
        {
            Assert.True(host.Contains(route), $"{route} is listed as Host-only but the Host does not serve it");
            Assert.False(functions.Contains(route), $"{route} is listed as Host-only but an HTTP trigger declares it too: remove it from the list");
        }
    }

    [Fact]
    public void Functions_metadata_declares_every_function_of_the_assembly_and_nothing_else()
    {
        // The parity checks read the build's declaration; it must be this build's: one entry per [Function] method, by name and entry point.
        var declared = typeof(FunctionsApp).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Function: m.GetCustomAttribute<FunctionAttribute>()))
            .Where(m => m.Function is not null)
            .Select(m => $"{m.Function!.Name} {m.Method.DeclaringType!.FullName}.{m.Method.Name}")
            .Order(StringComparer.Ordinal).ToList();
        var metadata = FunctionsMetadata.All.Select(f => $"{f.Name} {f.EntryPoint}").Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(declared);
        Assert.Equal(declared, metadata);
    }

    [Fact]
    public void Function_names_are_unique()
    {
        var duplicates = FunctionsMetadata.All.GroupBy(f => f.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key} ({string.Join(", ", g.Select(f => f.EntryPoint))})").ToList();
        Assert.True(duplicates.Count == 0, $"duplicate function names: {string.Join("; ", duplicates)}");
    }

    /// <summary>Each HTTP trigger as "METHOD /prefix/route", with its level and the function that declares it.</summary>
    private static IEnumerable<(string Key, string Level, string Where)> FunctionRoutes()
    {
        var prefix = RoutePrefix();
        foreach (var function in FunctionsMetadata.All.Where(f => f.Http is not null))
        {
            var http = function.Http!;
            // A trigger without a route is served under the function's name.
            var path = "/" + string.Join("/", new[] { prefix, http.Route ?? function.Name }.Where(p => p.Length > 0).Select(p => p.Trim('/')));
            Assert.NotEmpty(http.Methods); // no methods would accept every method
            foreach (var method in http.Methods) yield return (Key(method, path), http.AuthLevel ?? "Function", function.EntryPoint);
        }
    }

    /// <summary>host.json's extensions.http.routePrefix; the Functions default is "api".</summary>
    private static string RoutePrefix()
    {
        using var hostJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Path, "host.json")));
        return hostJson.RootElement.TryGetProperty("extensions", out var ext) && ext.TryGetProperty("http", out var http)
               && http.TryGetProperty("routePrefix", out var prefix) ? prefix.GetString() ?? "api" : "api";
    }

    /// <summary>Methods upper case; paths compared case-insensitively without a trailing slash (but the root stays "/"), route parameters by name only (no constraints).</summary>
    private static string Key(string method, string path) =>
        $"{method.ToUpperInvariant()} {Parameter().Replace(path.Length > 1 ? path.TrimEnd('/').ToLowerInvariant() : path, m => $"{{{m.Groups[1].Value}}}")}";

    [GeneratedRegex(@"\{\**([^}:=?]+)[^}]*\}")]
    private static partial Regex Parameter();
}
