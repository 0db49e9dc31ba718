using Npgsql;
using PgEgress.Core.Output;
using PgEgress.Testing;

namespace PgEgress.Bench;

/// <summary>
/// The baseline: pg_recvlogical streaming a pgoutput slot to /dev/null, stopping at the end LSN of the change set; with
/// proto_version=1 (a large transaction reaches the client only after its commit, the walsender having spilled it to
/// pg_replslot/) or proto_version=2 with streaming=on (in-progress transactions streamed, as PgEgress asks by default).
/// </summary>
public static class RecvLogicalRunner
{
    public const string Contender = "pg_recvlogical";
    public const string StreamingContender = "pg_recvlogical stream";

    public static async Task<RunResult> RunAsync(int run, NpgsqlDataSource db, string slot, ulong endLsn, bool streaming, CancellationToken ct)
    {
        var conn = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        var exe = Path.Combine(PostgresCluster.FindBinDir(), "pg_recvlogical");
        string[] args =
        [
            "-d", $"host={conn.Host} port={conn.Port} user={conn.Username} dbname={conn.Database}",
            "--slot", slot, "--start",
            .. (streaming ? (string[])["-o", "proto_version=2", "-o", "streaming=on"] : ["-o", "proto_version=1"]),
            "-o", $"publication_names={BenchWorkload.Publication}",
            "-f", "/dev/null", "-F", "0",
            "--endpos", PgText.Lsn(endLsn), "--no-loop",
            "-v", // reports how it reached the end position, which tells a complete run from an early stop
        ];

        await using var sampler = RunSampler.Start(db, slot);
        var cpuBefore = ProcStats.ChildrenCpu();
        var result = await ProcessRunner.RunAsync(exe, args, new RunOptions { Timeout = TimeSpan.FromMinutes(10) }, ct);
        var cpu = ProcStats.ChildrenCpu() - cpuBefore;
        result.EnsureSuccess();
        // Stopping on a keepalive would mean it never saw the commit record at the end position: not a full run.
        if (!result.StandardError.Contains("reached by WAL record", StringComparison.Ordinal))
            throw new InvalidOperationException($"pg_recvlogical did not stop on the commit at {PgText.Lsn(endLsn)}:\n{result.StandardError}");
        return new RunResult(streaming ? StreamingContender : Contender, run, result.Elapsed, cpu, sampler.WalsenderCpu);
    }
}
