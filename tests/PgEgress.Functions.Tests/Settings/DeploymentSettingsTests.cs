using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using PgEgress.Core.Configuration;
using PgEgress.Testing;
using YamlDotNet.RepresentationModel;

namespace PgEgress.Functions.Tests.Settings;

/// <summary>
/// The settings the app reads reach it everywhere it runs: every PgEgress__* setting that PgEgressOptions declares is
/// in local.settings.json.example and in the Bicep app settings (and nothing there is a setting the app does not
/// know), every %Setting% host.json reads is defined in both, and azure-pipelines.yml passes the Bicep template
/// exactly the parameters it declares, including every required one.
/// </summary>
public sealed partial class DeploymentSettingsTests
{
    private static string Root => RepositoryRoot.Path;

    [Fact]
    public void The_options_are_read_as_expected()
    {
        // Guards the reflection itself: a few known settings, lists as lists.
        var names = OptionSettings.All.ToDictionary(s => s.Name, s => s.IsList);
        Assert.False(names["PgEgress__Source__ConnectionString"]);
        Assert.True(names["PgEgress__Source__Tables"]);
        Assert.False(names["PgEgress__Slice__HeartbeatInterval"]);
        Assert.False(names["PgEgress__WorkDirectory"]);
    }

    [Fact]
    public void Local_settings_example_sets_every_setting_and_only_known_ones()
    {
        var values = DeploymentFiles.LocalSettings();
        AssertCovers("local.settings.json.example", values.Keys.ToList());
        Assert.Equal("dotnet-isolated", values["FUNCTIONS_WORKER_RUNTIME"]);
        Assert.Equal("UseDevelopmentStorage=true", values["AzureWebJobsStorage"]);
    }

    [Fact]
    public void Local_settings_example_is_a_valid_configuration()
    {
        // The values as the worker sees them (environment variables, "__" for ":"), bound and validated like at start.
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(DeploymentFiles.LocalSettings().Select(kv => KeyValuePair.Create(kv.Key.Replace("__", ":"), (string?)kv.Value)))
            .Build();
        var options = OptionsBinding.Bind(configuration);
        Assert.NotNull(options);
        Assert.Empty(OptionsValidator.Validate(options));
    }

    [Fact]
    public void Bicep_app_settings_set_every_setting_and_only_known_ones()
    {
        var names = DeploymentFiles.BicepAppSettingNames();
        AssertCovers("infra/main.bicep", [.. names]);
        Assert.Contains("FUNCTIONS_WORKER_RUNTIME", names);
        Assert.Contains("'DOTNET-ISOLATED|10.0'", DeploymentFiles.Bicep());
        // The host storage is reached with the identity: the account and endpoints, never a connection string.
        Assert.DoesNotContain("AzureWebJobsStorage", names);
        foreach (var part in new[] { "accountName", "blobServiceUri", "queueServiceUri", "tableServiceUri", "credential", "clientId" })
            Assert.Contains($"AzureWebJobsStorage__{part}", names);
    }

    [Fact]
    public void Every_setting_host_json_reads_is_defined_locally_and_in_Bicep()
    {
        var referenced = DeploymentFiles.AppSettingReferences(File.ReadAllText(Path.Combine(Root, "host.json"))).ToHashSet();
        Assert.Contains("TASKHUB_NAME", referenced);
        var local = DeploymentFiles.LocalSettings();
        var bicep = DeploymentFiles.BicepAppSettingNames();
        foreach (var name in referenced)
        {
            Assert.True(local.ContainsKey(name), $"host.json reads %{name}% but local.settings.json.example does not set it");
            Assert.True(bicep.Contains(name), $"host.json reads %{name}% but infra/main.bicep does not set it");
        }
    }

    [Fact]
    public void The_pipeline_passes_the_Bicep_parameters_it_declares_from_defined_variables()
    {
        var declared = BicepParameters();
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Path.Combine(Root, "azure-pipelines.yml"))));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var variables = ((YamlMappingNode)root.Children[new YamlScalarNode("variables")]).Children.Keys
            .Select(k => ((YamlScalarNode)k).Value!).ToHashSet(StringComparer.Ordinal);

        var script = AllMappings(root)
            .Select(m => m.Children.TryGetValue(new YamlScalarNode("inlineScript"), out var v) ? ((YamlScalarNode)v).Value ?? "" : "")
            .Single(s => s.Contains("az deployment group create", StringComparison.Ordinal));
        Assert.Contains("infra/main.bicep", script);
        var passed = PipelineParameter().Matches(script).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
        Assert.NotEmpty(passed);
        foreach (var (parameter, variable) in passed)
        {
            Assert.True(declared.ContainsKey(parameter), $"azure-pipelines.yml passes {parameter}, which infra/main.bicep does not declare");
            Assert.True(variables.Contains(variable), $"azure-pipelines.yml passes {parameter}=$({variable}) but defines no variable {variable}");
        }
        foreach (var (parameter, required) in declared)
            Assert.False(required && !passed.ContainsKey(parameter), $"infra/main.bicep requires {parameter} but azure-pipelines.yml does not pass it");
    }

    [Fact]
    public void The_pipeline_builds_the_solution_runs_the_suite_and_deploys_the_Linux_app_behind_an_environment()
    {
        var text = File.ReadAllText(Path.Combine(Root, "azure-pipelines.yml"));
        Assert.Contains("dotnet build Functions.sln", text);
        Assert.Contains("bash scripts/test.sh", text);
        Assert.Contains("src/PgEgress.Functions/PgEgress.Functions.csproj", text);
        var yaml = new YamlStream();
        yaml.Load(new StringReader(text));
        var deployments = AllMappings(yaml.Documents[0].RootNode).Where(m => m.Children.ContainsKey(new YamlScalarNode("deployment"))).ToList();
        Assert.NotEmpty(deployments);
        Assert.All(deployments, d => Assert.True(d.Children.ContainsKey(new YamlScalarNode("environment")), "every deployment job targets the approval-gated environment"));
        var functionApp = AllMappings(yaml.Documents[0].RootNode).Single(m =>
            m.Children.TryGetValue(new YamlScalarNode("task"), out var task) && ((YamlScalarNode)task).Value == "AzureFunctionApp@2");
        var inputs = (YamlMappingNode)functionApp.Children[new YamlScalarNode("inputs")];
        Assert.Equal("functionAppLinux", ((YamlScalarNode)inputs.Children[new YamlScalarNode("appType")]).Value);
    }

    private static void AssertCovers(string file, IReadOnlyList<string> names)
    {
        var pgegress = names.Where(n => n.StartsWith(PgEgressOptions.SectionName + "__", StringComparison.OrdinalIgnoreCase)).ToList();
        var missing = OptionSettings.All.Where(s => !pgegress.Any(s.IsSetBy)).Select(s => s.IsList ? $"{s.Name}(__N)" : s.Name).ToList();
        var unknown = pgegress.Where(n => !OptionSettings.All.Any(s => s.IsSetBy(n))).ToList();
        Assert.True(missing.Count == 0, $"{file} does not set: {string.Join(", ", missing)}");
        Assert.True(unknown.Count == 0, $"{file} sets settings PgEgressOptions does not declare: {string.Join(", ", unknown)}");
    }

    /// <summary>Bicep parameters and whether each is required (has no default).</summary>
    private static Dictionary<string, bool> BicepParameters() =>
        BicepParameter().Matches(DeploymentFiles.Bicep()).ToDictionary(m => m.Groups[1].Value, m => !m.Groups[2].Success, StringComparer.Ordinal);

    private static IEnumerable<YamlMappingNode> AllMappings(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                yield return mapping;
                foreach (var child in mapping.Children.Values.SelectMany(AllMappings)) yield return child;
                break;
            case YamlSequenceNode sequence:
                foreach (var child in sequence.Children.SelectMany(AllMappings)) yield return child;
                break;
        }
    }

    [GeneratedRegex(@"(?m)^param\s+(\w+)\s+\w+(\s*=.*)?$")]
    private static partial Regex BicepParameter();

    [GeneratedRegex(@"(?m)^\s*(\w+)=""\$\((\w+)\)""")]
    private static partial Regex PipelineParameter();
}
