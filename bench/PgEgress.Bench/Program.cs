using PgEgress.Bench;

// dotnet run -c Release --project bench/PgEgress.Bench -- ingest [--rows N] [--transactions N] [--runs N] [--keep]
const string Usage = """
    usage: PgEgress.Bench ingest [--rows N] [--transactions N] [--runs N] [--keep]

      ingest   pg_recvlogical vs PgEgress's ingest (SliceConsumer to staged segments) on the same change set
               of a throwaway PostgreSQL cluster; prints both rates and their ratio (median of --runs each).

      --rows N          rows loaded (default 1000000)
      --transactions N  spread the rows over N transactions (default 1: one transaction, as in the issue)
      --runs N          runs of each contender, alternating (default 3)
      --keep            keep the work folder (staged segments) instead of deleting it
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
if (args[0] != "ingest")
{
    Console.Error.WriteLine($"unknown command '{args[0]}'\n\n{Usage}");
    return 2;
}

var settings = new IngestSettings();
for (var i = 1; i < args.Length; i++)
{
    long Number(string name)
    {
        if (i + 1 >= args.Length || !long.TryParse(args[++i].Replace("_", ""), out var n) || n < 1)
            throw new ArgumentException($"{name} needs a positive whole number");
        return n;
    }

    try
    {
        switch (args[i])
        {
            case "--rows": settings = settings with { Rows = Number("--rows") }; break;
            case "--transactions": settings = settings with { Transactions = checked((int)Number("--transactions")) }; break;
            case "--runs": settings = settings with { Runs = checked((int)Number("--runs")) }; break;
            case "--keep": settings = settings with { Keep = true }; break;
            default: throw new ArgumentException($"unknown option '{args[i]}'");
        }
    }
    catch (Exception e) when (e is ArgumentException or OverflowException)
    {
        Console.Error.WriteLine($"{e.Message}\n\n{Usage}");
        return 2;
    }
}
if (settings.Transactions > settings.Rows)
{
    Console.Error.WriteLine("--transactions cannot exceed --rows");
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
await IngestBench.RunAsync(settings, cancel.Token);
return 0;
