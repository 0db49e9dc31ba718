using PgEgress.Bench;

// dotnet run -c Release --project bench/PgEgress.Bench -- ingest|reload|sinks|sinks-txn|sinks-clickhouse|slices|segments|clients|verify [options]
const string Usage = """
    usage: PgEgress.Bench ingest [--rows N] [--transactions N] [--runs N] [--keep]
           PgEgress.Bench reload [--rows N] [--workers N] [--runs N] [--keep]
           PgEgress.Bench reload-profile [--rows N] [--keep]
           PgEgress.Bench sinks [--events N] [--rate N] [--seconds N] [--runs N] [--keep]
           PgEgress.Bench sinks-txn [--events N] [--runs N] [--keep]
           PgEgress.Bench sinks-clickhouse [--events N] [--runs N] [--keep]
           PgEgress.Bench slices [--rows N] [--hold S] [--runs N] [--keep]
           PgEgress.Bench verify [--rows N] [--runs N] [--keep]
           PgEgress.Bench segments [--seconds N] [--keep]
           PgEgress.Bench clients [--events N] [--runs N]

      ingest   pg_recvlogical vs PgEgress's ingest (SliceConsumer to staged segments) on the same change set
               of a throwaway PostgreSQL cluster; prints both rates and their ratio (median of --runs each).
      reload   psql's \copy piped into gzip -1 vs PgEgress's full-reload export (TableExporter: parallel COPY under an
               exported snapshot, gzip, upload to a local-folder store) of the same table of a throwaway cluster;
               prints both rates and their ratio (median of --runs each) and PgEgress's peak RSS.
      reload-profile  where a reload's time goes: one COPY per stage (alone, + row counting, + gzip, + the spool file
               with fsync) and the compression choices (GZipStream Optimal, ZLibStream, 1 MiB reads).
      sinks    the webhook sink against a loopback receiver in the same process: delivery of a staged change set with
               K = 1 and K = 8 workers (and K = 8, batches of 50) vs a raw HttpClient loop posting the same bodies; then
               commit → delivered latency percentiles with a writer at a steady rate while ingest and the sink run.
      sinks-txn  one transaction of --events rows (default 100000) to a receiver taking 60 ms per request, K = 8, one
               event per request: PgEgress slice after slice vs the raw HttpClient loop; time, requests, repeats.
      sinks-clickhouse  --events rows (default 100000, transactions of 100) into a local clickhouse-server by the
               ClickHouse sink vs raw HttpClient INSERTs of the same rows; time and rows/s.
      slices   one transaction of --rows rows (default 500000) open across 1 s slices while small commits go on: a new
               replication session per slice (the old ConsumeSlice activity) vs one kept session (SliceRun); walsender
               CPU and time from the commit until it is staged.
      segments what Slice:QuietAfterCommit costs: segments (objects and registry rows) per minute, transactions per
               segment and commit → staged at 100, 1,000 and 10,000 changes/s, folder store and Azurite, vs it off.
      clients  the client change feed (ClientsApi, without Kestrel): one client and 20 at once reading a staged change
               set vs the staged log read directly; commit → long-poll answer latency at 1,000 changes/s.
      verify   a verification of a table PgEgress exported (initial load) and then streamed changes of, vs the plain
               SELECT md5(string_agg(t::text, '' ORDER BY id)) over it; both times and PgEgress's peak RSS.

      --rows N          rows loaded (default 1000000 for ingest, 5000000 for reload, 500000 for slices, 2000000 for verify)
      --transactions N  ingest: spread the rows over N transactions (default 1: one transaction, as in the issue)
      --workers N       reload: PgEgress's export connections (default 2, as PgEgress:Reload:Workers)
      --events N        sinks: events staged for the throughput part (default 200000, transactions of 100 rows);
                        sinks-txn: rows of the one transaction (default 100000); sinks-clickhouse: rows (default 100000)
      --rate N          sinks: rows/s the latency writer inserts, 50 per transaction (default 5000)
      --seconds N       sinks: how long the latency writer runs (default 30; the first 3 s are not counted);
                        segments: how long each scenario's writer runs (default 30)
      --hold S          slices: seconds the transaction stays open after its last insert (default 10)
      --runs N          runs of each contender, alternating (default 3)
      --keep            keep the work folder (staged segments, exported files) instead of deleting it
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
if (args[0] is not ("ingest" or "reload" or "reload-profile" or "sinks" or "sinks-txn" or "sinks-clickhouse" or "slices" or "segments" or "clients" or "verify"))
{
    Console.Error.WriteLine($"unknown command '{args[0]}'\n\n{Usage}");
    return 2;
}

var ingest = new IngestSettings();
var reload = new ReloadSettings();
var sinks = new SinkSettings();
var sinksTxn = new SinkTransactionSettings();
var slices = new SliceSettings();
var verify = new VerifySettings();
var segments = new SegmentRateSettings();
var clients = new ClientSettings();
for (var i = 1; i < args.Length; i++)
{
    long Number(string name, long min = 1)
    {
        if (i + 1 >= args.Length || !long.TryParse(args[++i].Replace("_", ""), out var n) || n < min)
            throw new ArgumentException(min == 1 ? $"{name} needs a positive whole number" : $"{name} needs a whole number of at least {min}");
        return n;
    }

    try
    {
        switch (args[i])
        {
            case "--rows":
                var rows = Number("--rows");
                (ingest, reload, slices, verify) = (ingest with { Rows = rows }, reload with { Rows = rows }, slices with { Rows = rows }, verify with { Rows = rows });
                break;
            case "--transactions" when args[0] == "ingest": ingest = ingest with { Transactions = checked((int)Number("--transactions")) }; break;
            case "--workers" when args[0] == "reload": reload = reload with { Workers = checked((int)Number("--workers")) }; break;
            case "--events" when args[0] == "sinks": sinks = sinks with { Events = Number("--events") }; break;
            case "--events" when args[0] == "clients": clients = clients with { Events = Number("--events") }; break;
            case "--events" when args[0] is "sinks-txn" or "sinks-clickhouse": sinksTxn = sinksTxn with { Events = Number("--events") }; break;
            case "--hold" when args[0] == "slices": slices = slices with { Hold = checked((int)Number("--hold", min: 0)) }; break;
            case "--rate" when args[0] == "sinks": sinks = sinks with { Rate = checked((int)Number("--rate")) }; break;
            case "--seconds" when args[0] == "sinks": sinks = sinks with { Seconds = checked((int)Number("--seconds")) }; break;
            case "--seconds" when args[0] == "segments": segments = segments with { Seconds = checked((int)Number("--seconds")) }; break;
            case "--runs":
                var runs = checked((int)Number("--runs"));
                (ingest, reload, sinks, sinksTxn, slices) = (ingest with { Runs = runs }, reload with { Runs = runs }, sinks with { Runs = runs },
                    sinksTxn with { Runs = runs }, slices with { Runs = runs });
                clients = clients with { Runs = runs };
                verify = verify with { Runs = runs };
                break;
            case "--keep":
                (ingest, reload, sinks, sinksTxn, slices, segments) = (ingest with { Keep = true }, reload with { Keep = true }, sinks with { Keep = true },
                    sinksTxn with { Keep = true }, slices with { Keep = true }, segments with { Keep = true });
                verify = verify with { Keep = true };
                break;
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

if (sinks.Seconds <= sinks.WarmupSeconds)
{
    Console.Error.WriteLine($"--seconds must exceed the {sinks.WarmupSeconds} s of warm-up the latency figures leave out");
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
if (args[0] == "ingest") await IngestBench.RunAsync(ingest, cancel.Token);
else if (args[0] == "reload") await ReloadBench.RunAsync(reload, cancel.Token);
else if (args[0] == "reload-profile") await ReloadProfileBench.RunAsync(reload, cancel.Token);
else if (args[0] == "sinks") await SinkBench.RunAsync(sinks, cancel.Token);
else if (args[0] == "sinks-txn") await SinkTransactionBench.RunAsync(sinksTxn, cancel.Token);
else if (args[0] == "sinks-clickhouse") await ClickHouseSinkBench.RunAsync(sinksTxn, cancel.Token);
else if (args[0] == "slices") await SliceBench.RunAsync(slices, cancel.Token);
else if (args[0] == "clients") await ClientBench.RunAsync(clients, cancel.Token);
else if (args[0] == "segments") await SegmentRateBench.RunAsync(segments, cancel.Token);
else await VerifyBench.RunAsync(verify, cancel.Token);
return 0;
