namespace PgEgress.Tests.Functions;

/// <summary>The Functions source compiled once with StandIns/OrchestrationProbe.cs; its probe methods called by name.</summary>
internal static class OrchestrationProbeImage
{
    private static readonly Lazy<Type> Probe = new(() =>
    {
        var (image, problems) = FunctionsCompilation.Compile("OrchestrationProbe.cs");
        Assert.True(image is not null, string.Join(Environment.NewLine, problems));
        return FunctionsCompilation.Load(image!).GetType("PgEgress.Tests.Functions.StandIns.OrchestrationProbe")!;
    });

    public static T Call<T>(string method, params object?[] arguments) => (T)Probe.Value.GetMethod(method)!.Invoke(null, arguments)!;
}
