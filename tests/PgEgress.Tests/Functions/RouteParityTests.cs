using System.Text.Json;
using System.Text.RegularExpressions;
using PgEgress.Testing;

namespace PgEgress.Tests.Functions;

/// <summary>
/// The Host and the Functions app serve the same HTTP API: every route the Host maps is an HTTP trigger with the same
/// method and path (under host.json's route prefix), function-key protected exactly where the Host wants its key, and
/// the Functions app has no route the Host lacks, except the few listed in <see cref="FunctionsOnly"/>.
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

    [Fact]
    public async Task Every_Host_route_is_an_HTTP_trigger_and_the_reverse()
    {
        var host = (await HostRoutes.ReadAsync()).Select(r => Key(r.Method, r.Path)).ToHashSet(StringComparer.Ordinal);
        var functions = FunctionRoutes().Select(r => r.Key).ToHashSet(StringComparer.Ordinal);

        Assert.NotEmpty(host);
        var missingInFunctions = host.Except(functions).Order().ToList();
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
    public async Task The_Functions_only_routes_exist_and_only_there()
    {
        var host = (await HostRoutes.ReadAsync()).Select(r => Key(r.Method, r.Path)).ToHashSet(StringComparer.Ordinal);
        var functions = FunctionRoutes().Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var route in FunctionsOnly.Keys)
        {
            Assert.True(functions.Contains(route), $"{route} is listed as Functions-only but no HTTP trigger declares it");
            Assert.False(host.Contains(route), $"{route} is listed as Functions-only but the Host serves it too: remove it from the list");
        }
    }

    [Fact]
    public void The_reader_sees_a_route_added_on_the_Functions_side()
    {
        // The parity test is only as good as its reader: a new trigger in any form the reader accepts must show up.
        const string source = """
            public sealed class Extra
            {
                [Function("ReloadTable")]
                public Task<IActionResult> Reload([HttpTrigger(AuthorizationLevel.Function, "post", Route = "reload/{table}")] HttpRequest req, string table) => null!;
                [Function(nameof(Other))]
                public IActionResult Other([HttpTrigger("get")] HttpRequest req) => null!;
                [Function("Timer")]
                public void Tick([TimerTrigger("0 */5 * * * *")] TimerInfo timer) { }
            }
            """;
        var functions = FunctionsSource.Read("Extra.cs", source).ToList();
        Assert.Equal(("ReloadTable", "Function", "POST", "reload/{table}"),
            (functions[0].Name, functions[0].Http!.AuthLevel, functions[0].Http!.Methods.Single(), functions[0].Http!.Route));
        // The methods-only constructor leaves the level at Anonymous (gotcha #2), and the route defaults to the name.
        Assert.Equal(("Anonymous", "GET", "Other"), (functions[1].Http!.AuthLevel, functions[1].Http!.Methods.Single(), functions[1].Http!.Route));
        Assert.Equal("0 */5 * * * *", functions[2].Schedule);

        Assert.Throws<InvalidDataException>(() => FunctionsSource.Read("Const.cs", """
            public sealed class C { [Function("X")] public void X([HttpTrigger(AuthorizationLevel.Function, "get", Route = Routes.X)] HttpRequest r) { } }
            """).ToList());
    }

    [Fact]
    public void Function_names_are_unique()
    {
        var duplicates = FunctionsSource.Functions().GroupBy(f => f.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key} ({string.Join(", ", g.Select(f => f.Location))})").ToList();
        Assert.True(duplicates.Count == 0, $"duplicate function names: {string.Join("; ", duplicates)}");
    }

    /// <summary>Each HTTP trigger method as "METHOD /prefix/route", with its level and where it is declared.</summary>
    private static IEnumerable<(string Key, string Level, string Where)> FunctionRoutes()
    {
        var prefix = RoutePrefix();
        foreach (var function in FunctionsSource.Functions().Where(f => f.Http is not null))
        {
            var path = "/" + string.Join("/", new[] { prefix, function.Http!.Route }.Where(p => p.Length > 0).Select(p => p.Trim('/')));
            foreach (var method in function.Http.Methods) yield return (Key(method, path), function.Http.AuthLevel, function.Location);
        }
    }

    /// <summary>host.json's extensions.http.routePrefix; the Functions default is "api".</summary>
    private static string RoutePrefix()
    {
        using var hostJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Path, "host.json")));
        return hostJson.RootElement.TryGetProperty("extensions", out var ext) && ext.TryGetProperty("http", out var http)
               && http.TryGetProperty("routePrefix", out var prefix) ? prefix.GetString() ?? "api" : "api";
    }

    /// <summary>Methods upper case; paths compared case-insensitively, route parameters by name only (no constraints).</summary>
    private static string Key(string method, string path) =>
        $"{method.ToUpperInvariant()} {Parameter().Replace(path.TrimEnd('/').ToLowerInvariant(), m => $"{{{m.Groups[1].Value}}}")}";

    [GeneratedRegex(@"\{\**([^}:=?]+)[^}]*\}")]
    private static partial Regex Parameter();
}
