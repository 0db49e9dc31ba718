namespace PgEgress.Functions.Tests.Durable.AzureStorage;

/// <summary>The app settings of one pipeline over a throwaway database, with its output and work folders under <paramref name="root"/>.</summary>
internal static class PipelineSettings
{
    public static Dictionary<string, string?> For(string database, string table, string root) => new()
    {
        ["PgEgress__Source__ConnectionString"] = database,
        ["PgEgress__Source__Slot"] = "fn_az_" + Guid.NewGuid().ToString("N")[..8],
        ["PgEgress__Source__Tables__0"] = table,
        // Short slices so a change is staged within a second or two; the 5-minute batch window is the default.
        ["PgEgress__Slice__MaxDuration"] = "00:00:01",
        // Reloads here are the ones a test requests.
        ["PgEgress__Reload__InitialLoad"] = "false",
        ["PgEgress__Storage__Kind"] = "FileSystem",
        ["PgEgress__Storage__Path"] = Path.Combine(root, "out"),
        ["PgEgress__WorkDirectory"] = Path.Combine(root, "work"),
    };

    /// <summary>A task hub name of its own: letters and digits only.</summary>
    public static string TaskHub() => "pgegress" + Guid.NewGuid().ToString("N")[..12];
}
