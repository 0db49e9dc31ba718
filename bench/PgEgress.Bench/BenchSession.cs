using System.Diagnostics;
using Npgsql;
using PgEgress.Testing;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// What every bench command runs on: a throwaway PostgreSQL cluster with a "bench" database, and a work folder that is
/// deleted when the session ends unless --keep asked to keep it.
/// </summary>
public sealed class BenchSession : IAsyncDisposable
{
    private readonly Stopwatch _started;
    private readonly bool _keep;

    private BenchSession(Stopwatch started, double loadBefore, string workRoot, bool keep, PostgresCluster cluster)
    {
        (_started, LoadBefore, WorkRoot, _keep, Cluster) = (started, loadBefore, workRoot, keep, cluster);
    }

    /// <summary>Time since the session started (the report's total bench time).</summary>
    public TimeSpan Elapsed => _started.Elapsed;

    /// <summary>The machine's 1-minute load average before the session started anything.</summary>
    public double LoadBefore { get; }

    public string WorkRoot { get; }
    public PostgresCluster Cluster { get; }
    public string ConnectionString { get; private set; } = "";
    public NpgsqlDataSource Db { get; private set; } = null!;

    public static async Task<BenchSession> StartAsync(BenchSettings settings, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        var loadBefore = ProcStats.LoadAverage();
        if (loadBefore > 1)
            Log($"warning: the machine is busy (load average {loadBefore:0.0}); other processes compete for the cores and skew the figures");
        var workRoot = Path.Combine(Path.GetTempPath(), $"pgegress-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(workRoot);
        Log($"starting a throwaway PostgreSQL cluster ({PostgresCluster.FindBinDir()})");
        // fsync=off / full_page_writes=off only speed up the load: decoding and exports read from the page cache either
        // way, and every contender reads the same server.
        var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { AllowExternalServer = false, FastUnsafe = true }, ct);
        var session = new BenchSession(started, loadBefore, workRoot, settings.Keep, cluster);
        try
        {
            session.ConnectionString = await cluster.CreateDatabaseAsync("bench", ct);
            session.Db = NpgsqlDataSource.Create(session.ConnectionString);
            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Db is not null) await Db.DisposeAsync();
        if (_keep) Log($"kept {WorkRoot}");
        else
        {
            try { Directory.Delete(WorkRoot, recursive: true); }
            catch (IOException) { }
        }
        await Cluster.DisposeAsync();
    }
}
