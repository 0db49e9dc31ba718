namespace PgEgress.Bench;

/// <summary>Progress lines of the bench commands: on stderr, so stdout holds only the report.</summary>
public static class BenchLog
{
    public static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
