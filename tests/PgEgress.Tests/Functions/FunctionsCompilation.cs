using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PgEgress.Testing;

namespace PgEgress.Tests.Functions;

/// <summary>
/// Compiles the Functions app's source, which nothing here can build with its real packages, against the current
/// Core and stand-ins of the Functions and Durable Task API (StandIns/FunctionsApi.cs, written from
/// shared/reference/azure-functions.md), with the repository's settings: nullable on, warnings as errors.
/// </summary>
internal static class FunctionsCompilation
{
    private static string StandIns => Path.Combine(RepositoryRoot.Path, "tests", "PgEgress.Tests", "Functions", "StandIns");

    /// <returns>The assembly image, or the compiler's complaints.</returns>
    public static (byte[]? Image, IReadOnlyList<string> Problems) Compile(params string[] extraStandIns)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var sources = FunctionsSource.Files()
            .Append(Path.Combine(StandIns, "FunctionsApi.cs"))
            .Concat(extraStandIns.Select(f => Path.Combine(StandIns, f)))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f))
            // The implicit usings of Microsoft.NET.Sdk.
            .Append(CSharpSyntaxTree.ParseText("""
                global using System;
                global using System.Collections.Generic;
                global using System.IO;
                global using System.Linq;
                global using System.Net.Http;
                global using System.Threading;
                global using System.Threading.Tasks;
                """, parse, path: "ImplicitUsings.cs"));

        // Everything this test process can load (the .NET and ASP.NET Core shared frameworks, Core and its packages),
        // except the Host and the tests, which have their own top-level Program.
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileNameWithoutExtension(p) is not ("PgEgress.Host" or "PgEgress.Tests" or "testhost"))
            .Select(p => MetadataReference.CreateFromFile(p));

        var compilation = CSharpCompilation.Create("PgEgress.Functions", sources, references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable,
                generalDiagnosticOption: ReportDiagnostic.Error,
                // As the SDK does: assembly-version unification notes are not problems.
                specificDiagnosticOptions: new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress }));

        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        var problems = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();
        return (result.Success && problems.Count == 0 ? image.ToArray() : null, problems);
    }

    /// <summary>Loads a compiled image in a context of its own; its dependencies (Core, …) come from the test process.</summary>
    public static Assembly Load(byte[] image) =>
        new AssemblyLoadContext("PgEgress.Functions", isCollectible: true).LoadFromStream(new MemoryStream(image));
}
