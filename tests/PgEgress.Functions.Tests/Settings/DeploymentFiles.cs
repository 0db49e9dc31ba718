using System.Text.Json;
using System.Text.RegularExpressions;

namespace PgEgress.Functions.Tests.Settings;

/// <summary>The app settings as the two places that define them for the Functions app state them.</summary>
internal static partial class DeploymentFiles
{
    /// <summary>local.settings.json.example's Values: what <c>func start</c> gives the app.</summary>
    public static Dictionary<string, string> LocalSettings()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Path, "local.settings.json.example")));
        return json.RootElement.GetProperty("Values").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
    }

    public static string Bicep() => File.ReadAllText(Path.Combine(RepositoryRoot.Path, "infra", "main.bicep"));

    /// <summary>The names of the app settings in the Bicep (each { name: '…' value: … }); an interpolated index (${i}) reads as {i}.</summary>
    public static HashSet<string> BicepAppSettingNames() =>
        BicepSettingName().Matches(Bicep()).Select(m => Interpolation().Replace(m.Groups[1].Value, OptionSettings.IndexPlaceholder)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The app settings a text reads as %Name% (host.json, binding attributes): the Functions host substitutes them.</summary>
    public static IEnumerable<string> AppSettingReferences(string text) => AppSettingReference().Matches(text).Select(m => m.Groups[1].Value);

    [GeneratedRegex(@"%([A-Za-z_][A-Za-z0-9_]*)%")]
    private static partial Regex AppSettingReference();

    [GeneratedRegex(@"(?m)^\s*name:\s*'([^']+)'\s*\n\s*value:")]
    private static partial Regex BicepSettingName();

    [GeneratedRegex(@"\$\{[^}]*\}")]
    private static partial Regex Interpolation();
}
