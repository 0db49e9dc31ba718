using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using PgEgress.Testing;

namespace PgEgress.Tests.Functions;

/// <summary>
/// infra/main.bicep compiles, and the linter finds nothing, with the real Bicep compiler (from the NuGet package
/// Azure.Bicep.CommandLine.linux-x64, which the test project downloads: there is no az CLI here).
/// </summary>
public sealed class BicepTests
{
    private static string Template => Path.Combine(RepositoryRoot.Path, "infra", "main.bicep");

    [Fact]
    public async Task The_template_compiles_without_warnings()
    {
        if (Bicep() is not { } bicep) return;
        var (code, output, errors) = await RunAsync(bicep, "build", Template, "--stdout");
        Assert.True(code == 0 && errors.Trim().Length == 0, $"bicep build exited {code}: {errors}");
        using var arm = JsonDocument.Parse(output);
        // An array of resources, or (language version 2.0) an object keyed by symbolic name.
        var resources = arm.RootElement.GetProperty("resources");
        var types = (resources.ValueKind == JsonValueKind.Array ? (IEnumerable<JsonElement>)resources.EnumerateArray() : resources.EnumerateObject().Select(r => r.Value))
            .Select(r => r.GetProperty("type").GetString()).ToList();
        Assert.Contains("Microsoft.Web/sites", types);
    }

    [Fact]
    public async Task The_linter_finds_nothing()
    {
        if (Bicep() is not { } bicep) return;
        var (code, output, errors) = await RunAsync(bicep, "lint", Template);
        Assert.True(code == 0 && (output + errors).Trim().Length == 0, $"bicep lint exited {code}: {output}{errors}");
    }

    /// <summary>The compiler binary, or null where the package has none (it ships for linux-x64 only).</summary>
    private static string? Bicep()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64) return null;
        var path = typeof(BicepTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepCli").Value!;
        Assert.True(File.Exists(path), $"the Bicep compiler is missing at {path}; restore the test project");
        // NuGet does not keep the executable bit.
        File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        return path;
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var errors = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await errors);
    }
}
