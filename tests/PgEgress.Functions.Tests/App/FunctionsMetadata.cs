using System.Reflection;
using System.Text.Json;

namespace PgEgress.Functions.Tests.App;

/// <summary>One binding of a function as the build declared it in functions.metadata.</summary>
internal sealed record FunctionBinding(string Name, string Type, string Direction, string? AuthLevel, IReadOnlyList<string> Methods, string? Route,
    string? Schedule, IReadOnlyDictionary<string, string> Properties);

/// <summary>One function of functions.metadata: what the Functions host indexes.</summary>
internal sealed record FunctionDeclaration(string Name, string EntryPoint, IReadOnlyList<FunctionBinding> Bindings)
{
    public FunctionBinding? Http => Bindings.SingleOrDefault(b => b.Type == "httpTrigger");

    public FunctionBinding? Timer => Bindings.SingleOrDefault(b => b.Type == "timerTrigger");
}

/// <summary>
/// The app's functions.metadata, which the Worker SDK writes into the Functions project's output when it builds: the
/// real declaration of every function (the host reads this file, not the source).
/// </summary>
internal static class FunctionsMetadata
{
    /// <summary>Where the build put it (the project's output folder, recorded in this assembly at build time).</summary>
    public static string Path { get; } = typeof(FunctionsMetadata).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "FunctionsMetadata").Value!;

    public static IReadOnlyList<FunctionDeclaration> All { get; } = Read(File.ReadAllText(Path));

    public static IReadOnlyList<FunctionDeclaration> Read(string json)
    {
        using var document = JsonDocument.Parse(json);
        return [.. document.RootElement.EnumerateArray().Select(f => new FunctionDeclaration(
            f.GetProperty("name").GetString()!,
            f.GetProperty("entryPoint").GetString()!,
            [.. f.GetProperty("bindings").EnumerateArray().Select(ReadBinding)]))];
    }

    private static FunctionBinding ReadBinding(JsonElement b) => new(
        b.GetProperty("name").GetString()!,
        b.GetProperty("type").GetString()!,
        b.GetProperty("direction").GetString()!,
        Text(b, "authLevel"),
        b.TryGetProperty("methods", out var methods) ? [.. methods.EnumerateArray().Select(m => m.GetString()!)] : [],
        Text(b, "route"),
        Text(b, "schedule"),
        // Every other string-valued attribute (connection names, task hub, …): where a binding can name an app setting.
        b.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String && p.Name is not ("name" or "type" or "direction"))
            .ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal));

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;
}
