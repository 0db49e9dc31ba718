using PgEgress.Testing;

namespace PgEgress.Tests.Functions;

/// <summary>
/// The Functions app is built only by azure-pipelines.yml (its packages do not restore here). So that a change to
/// Core cannot break it unseen, its source is compiled here (<see cref="FunctionsCompilation"/>).
/// </summary>
public sealed class FunctionsCompileTests
{
    [Fact]
    public void The_Functions_source_compiles_against_Core_and_the_API_stand_ins()
    {
        var (image, problems) = FunctionsCompilation.Compile();
        Assert.True(image is not null, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_Functions_project_is_in_Functions_sln_and_out_of_the_local_filter()
    {
        var root = RepositoryRoot.Path;
        Assert.Contains(@"src\PgEgress.Functions\PgEgress.Functions.csproj", File.ReadAllText(Path.Combine(root, "Functions.sln")));
        Assert.DoesNotContain("PgEgress.Functions", File.ReadAllText(Path.Combine(root, "PgEgress.slnf")));
        // And nothing the filter builds references it, which would restore it.
        foreach (var project in Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
                     .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}node_modules{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            if (Path.GetFileName(project) == "PgEgress.Functions.csproj") continue;
            Assert.DoesNotContain("PgEgress.Functions", File.ReadAllText(project));
        }
    }
}
