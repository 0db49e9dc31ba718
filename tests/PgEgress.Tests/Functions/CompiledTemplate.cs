using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using PgEgress.Testing;

namespace PgEgress.Tests.Functions;

/// <summary>
/// infra/main.bicep as the Bicep compiler emits it (ARM JSON), compiled once per test run, with the few readings the
/// tests need: resources by type, variables, and the site's app settings (name → ARM expression of the value).
/// </summary>
internal sealed partial class CompiledTemplate
{
    public static string Source => Path.Combine(RepositoryRoot.Path, "infra", "main.bicep");

    private static readonly Lazy<Task<CompiledTemplate?>> Compiled = new(CompileAsync);

    private readonly JsonElement _root;

    private CompiledTemplate(JsonElement root, string errors)
    {
        _root = root;
        Errors = errors;
    }

    /// <summary>What the compiler wrote to stderr (warnings included).</summary>
    public string Errors { get; }

    /// <summary>The compiled template, or null where there is no compiler (see <see cref="BicepCli.Locate"/>).</summary>
    public static Task<CompiledTemplate?> GetAsync() => Compiled.Value;

    public IReadOnlyList<JsonElement> Resources
    {
        get
        {
            // An array of resources, or (language version 2.0) an object keyed by symbolic name.
            var resources = _root.GetProperty("resources");
            return resources.ValueKind == JsonValueKind.Array ? [.. resources.EnumerateArray()] : [.. resources.EnumerateObject().Select(r => r.Value)];
        }
    }

    public IReadOnlyList<JsonElement> OfType(string type) => [.. Resources.Where(r => r.GetProperty("type").GetString() == type)];

    public JsonElement Parameter(string name) => _root.GetProperty("parameters").GetProperty(name);

    public JsonElement Variable(string name) => _root.GetProperty("variables").GetProperty(name);

    /// <summary>
    /// The role definition ids a role assignment grants: its roleDefinitionId is
    /// subscriptionResourceId('…/roleDefinitions', variables('x')) or, in a copy loop, variables('x')[copyIndex()].
    /// </summary>
    public IReadOnlyList<string> RoleIds(JsonElement assignment)
    {
        var expression = assignment.GetProperty("properties").GetProperty("roleDefinitionId").GetString()!;
        var match = RoleVariable().Match(expression);
        Assert.True(match.Success, $"unexpected roleDefinitionId {expression}");
        var variable = Variable(match.Groups[1].Value);
        return match.Groups[2].Success ? [.. variable.EnumerateArray().Select(v => v.GetString()!)] : [variable.GetString()!];
    }

    /// <summary>The site's app settings: every createObject('name', '…', 'value', …) in its appSettings expression.</summary>
    public IReadOnlyDictionary<string, string> AppSettings()
    {
        var expression = OfType("Microsoft.Web/sites").Single().GetProperty("properties").GetProperty("siteConfig").GetProperty("appSettings").GetString()!;
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match match in SettingStart().Matches(expression))
            settings.Add(match.Groups[1].Value, ArgumentAt(expression, match.Index + match.Length));
        return settings;
    }

    /// <summary>The ARM expression argument starting at <paramref name="start"/>, up to the comma or parenthesis that ends it.</summary>
    private static string ArgumentAt(string expression, int start)
    {
        var depth = 0;
        var quoted = false;
        var text = new StringBuilder();
        for (var i = start; i < expression.Length; i++)
        {
            var c = expression[i];
            if (quoted) quoted = c != '\''; // '' (an escaped quote) closes and reopens.
            else if (c == '\'') quoted = true;
            else if (c is '(' or '[') depth++;
            else if (c is ')' or ']' && depth-- == 0) break;
            else if (c == ',' && depth == 0) break;
            text.Append(c);
        }
        return text.ToString();
    }

    private static async Task<CompiledTemplate?> CompileAsync()
    {
        if (BicepCli.Locate() is not { } bicep) return null;
        var (code, output, errors) = await BicepCli.RunAsync(bicep, "build", Source, "--stdout");
        Assert.True(code == 0, $"bicep build exited {code}: {errors}");
        using var arm = JsonDocument.Parse(output);
        return new CompiledTemplate(arm.RootElement.Clone(), errors);
    }

    [GeneratedRegex(@"^\[subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions', variables\('(\w+)'\)(\[copyIndex\(\)\])?\)\]$")]
    private static partial Regex RoleVariable();

    [GeneratedRegex(@"createObject\('name', '([^']+)', 'value', ")]
    private static partial Regex SettingStart();
}
