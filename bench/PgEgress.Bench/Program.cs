using PgEgress.Bench;

// dotnet run -c Release --project bench/PgEgress.Bench -- ingest|reload [options]
const string Usage = """
    usage: PgEgress.Bench ingest [--rows N] [--transactions N] [--runs N] [--keep]
           PgEgress.Bench reload [--rows N] [--workers N] [--runs N] [--keep]

      ingest   pg_recvlogical vs PgEgress's ingest (SliceConsumer to staged segments) on the same change set
               of a throwaway PostgreSQL cluster; prints both rates and their ratio (median of --runs each).
      reload   psql's \copy piped into gzip -1 vs PgEgress's full-reload export (TableExporter: parallel COPY under an
               exported snapshot, gzip, upload to a local-folder store) of the same table of a throwaway cluster;
               prints both rates and their ratio (median of --runs each) and PgEgress's peak RSS.

      --rows N          rows loaded (default 1000000 for ingest, 5000000 for reload)
      --transactions N  ingest: spread the rows over N transactions (default 1: one transaction, as in the issue)
      --workers N       reload: PgEgress's export connections (default 2, as PgEgress:Reload:Workers)
      --runs N          runs of each contender, alternating (default 3)
      --keep            keep the work folder (staged segments, exported files) instead of deleting it
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
if (args[0] is not ("ingest" or "reload"))
{
    Console.Error.WriteLine($"unknown command '{args[0]}'\n\n{Usage}");
    return 2;
}

var ingest = new IngestSettings();
var reload = new ReloadSettings();
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
            case "--rows":
                var rows = Number("--rows");
                (ingest, reload) = (ingest with { Rows = rows }, reload with { Rows = rows });
                break;
            case "--transactions" when args[0] == "ingest": ingest = ingest with { Transactions = checked((int)Number("--transactions")) }; break;
            case "--workers" when args[0] == "reload": reload = reload with { Workers = checked((int)Number("--workers")) }; break;
            case "--runs":
                var runs = checked((int)Number("--runs"));
                (ingest, reload) = (ingest with { Runs = runs }, reload with { Runs = runs });
                break;
            case "--keep": (ingest, reload) = (ingest with { Keep = true }, reload with { Keep = true }); break;
            default: throw new ArgumentException($"unknown option '{args[i]}' for {args[0]}");
        }
    }
    catch (Exception e) when (e is ArgumentException or OverflowException)
    {
        Console.Error.WriteLine($"{e.Message}\n\n{Usage}");
        return 2;
    }
}
if (ingest.Transactions > ingest.Rows)
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
if (args[0] == "ingest") await IngestBench.RunAsync(ingest, cancel.Token);
else await ReloadBench.RunAsync(reload, cancel.Token);
return 0;
