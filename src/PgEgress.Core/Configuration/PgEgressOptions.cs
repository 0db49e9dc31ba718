namespace PgEgress.Core.Configuration;

/// <summary>The whole configuration, bound from the "PgEgress" section (environment: PgEgress__Section__Key).</summary>
public sealed class PgEgressOptions
{
    public const string SectionName = "PgEgress";

    public SourceOptions Source { get; set; } = new();
    public StorageOptions Storage { get; set; } = new();
    public BatchOptions Batch { get; set; } = new();
    public SliceOptions Slice { get; set; } = new();
    public ApiOptions Api { get; set; } = new();
    public ReloadOptions Reload { get; set; } = new();
    public HealthOptions Health { get; set; } = new();
    public DurableOptions Durable { get; set; } = new();
    public ClientsOptions Clients { get; set; } = new();

    /// <summary>Push sinks by name (PgEgress:Sinks:{name}:Kind …).</summary>
    public Dictionary<string, SinkOptions> Sinks { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Local folder for spool files (segments and batch parts before upload). Default: the temp folder.</summary>
    public string WorkDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "pgegress");
}

public sealed class SourceOptions
{
    /// <summary>Npgsql connection string of the source database. The user needs REPLICATION (or superuser).</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Publication to read; created when missing, for <see cref="Tables"/> or <see cref="Schemas"/>.</summary>
    public string Publication { get; set; } = "pgegress";

    /// <summary>Logical replication slot (pgoutput); created when missing.</summary>
    public string Slot { get; set; } = "pgegress";

    /// <summary>Tables ("schema.table") for a publication PgEgress creates itself.</summary>
    public List<string> Tables { get; set; } = [];

    /// <summary>Schemas whose tables a publication PgEgress creates itself covers. Empty with no Tables: all tables.</summary>
    public List<string> Schemas { get; set; } = [];

    /// <summary>Read with pgoutput protocol 2 and have large transactions streamed while in progress (PostgreSQL 14 and
    /// later; protocol 1 below): they stay off the source's disk and are not sent in one burst at commit.</summary>
    public bool Streaming { get; set; } = true;
}

public enum StorageKind
{
    FileSystem,
    AzureBlob,
}

public sealed class StorageOptions
{
    public StorageKind Kind { get; set; } = StorageKind.FileSystem;

    /// <summary>Root folder for <see cref="StorageKind.FileSystem"/>.</summary>
    public string Path { get; set; } = "./pgegress-output";

    /// <summary>
    /// Azure Storage connection string for <see cref="StorageKind.AzureBlob"/>: an account key string,
    /// a SAS string (BlobEndpoint=…;SharedAccessSignature=…), or UseDevelopmentStorage=true for Azurite.
    /// When empty, <see cref="AccountUrl"/> is used with a managed identity / Azure.Identity credential.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Blob service URL (https://account.blob.core.windows.net) used with a token credential.</summary>
    public string AccountUrl { get; set; } = "";

    public string Container { get; set; } = "pgegress";
}

public sealed class BatchOptions
{
    /// <summary>Length of a batch window; files are flushed at each boundary (UTC, aligned).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A batch file is split into parts past this many rows.</summary>
    public long MaxRowsPerFile { get; set; } = 5_000_000;

    /// <summary>A batch file is split into parts past this many uncompressed CSV bytes.</summary>
    public long MaxBytesPerFile { get; set; } = 1L << 30;
}

public sealed class SliceOptions
{
    /// <summary>A slice ends at the first transaction boundary after this long.</summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A slice ends at the first transaction boundary after this many staged bytes (uncompressed).</summary>
    public long MaxBytes { get; set; } = 64L << 20;

    /// <summary>A slice ends after this many transactions.</summary>
    public int MaxTransactions { get; set; } = 10_000;

    /// <summary>A slice also ends when, after at least one staged transaction, no message has come for this long (zero: off).</summary>
    public TimeSpan QuietAfterCommit { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// A slice ends at the first transaction boundary once its first transaction has waited this long: under a steady
    /// stream (never quiet) a change is staged within about this time, at one segment per this time.
    /// </summary>
    public TimeSpan MaxLatency { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>When the published tables are idle this long, a heartbeat message is written to the WAL so the slot advances.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one ConsumeSlice activity (Azure Functions) keeps its replication session for slice after slice; no
    /// slice starts that could end past it (the first always runs: a budget shorter than a slice means one slice per
    /// activity, as before). The Host keeps its session for good and does not read it. Four minutes: long enough that reconnects (each re-decoding the WAL from the
    /// slot's restart_lsn) are rare, short enough that the orchestration's status and a stop take effect within minutes
    /// and that a host shutting down (scale-in, deployment) does not wait long for the activity.
    /// </summary>
    public TimeSpan ActivityBudget { get; set; } = TimeSpan.FromMinutes(4);
}

public sealed class ReloadOptions
{
    /// <summary>When the slot is first created, export every published table under its snapshot before streaming them.</summary>
    public bool InitialLoad { get; set; } = true;

    /// <summary>Parallel export connections; each imports the same snapshot.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>A table larger than this (on-disk bytes) is exported as CTID ranges in parallel.</summary>
    public long SplitAboveBytes { get; set; } = 256L << 20;

    /// <summary>On-disk bytes of table covered by one CTID range.</summary>
    public long RangeBytes { get; set; } = 128L << 20;
}

/// <summary>
/// The Functions app's Durable timings: activity retries, the pause after they gave up, the idle pauses of the reload
/// and sink orchestrations. An orchestration carries them in its input from its start (the Host ignores them).
/// </summary>
public sealed class DurableOptions
{
    /// <summary>Attempts of an activity (the first included) before the generation gives up.</summary>
    public int RetryAttempts { get; set; } = 6;

    /// <summary>The pause before the first retry; each next one is <see cref="RetryBackoffCoefficient"/> times longer.</summary>
    public TimeSpan RetryFirstInterval { get; set; } = TimeSpan.FromSeconds(5);

    public double RetryBackoffCoefficient { get; set; } = 2.0;

    /// <summary>No retry pause is longer than this.</summary>
    public TimeSpan RetryMaxInterval { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The pause after the retries gave up, before the next generation tries again.</summary>
    public TimeSpan FailureBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The reload orchestration's pause after a round that found nothing to export.</summary>
    public TimeSpan ReloadIdleDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A sink orchestration's pause after its sink had caught up.</summary>
    public TimeSpan SinkIdleDelay { get; set; } = TimeSpan.FromSeconds(5);
}

public sealed class ApiOptions
{
    /// <summary>Key required in x-functions-key (or ?code=) for mutating routes. Empty: mutating routes are refused.</summary>
    public string Key { get; set; } = "";

    /// <summary>Host: changing requests (POST, PUT, PATCH, DELETE) a client address may send per minute; 0: no limit. The Functions app's front end has its own.</summary>
    public int MutatingRequestsPerMinute { get; set; } = 600;
}

public sealed class HealthOptions
{
    /// <summary>/api/ready answers 503 when ingest, the flush or a sink is further behind than this. Zero: off.</summary>
    public TimeSpan MaxLag { get; set; } = TimeSpan.Zero;

    /// <summary>/api/ready answers 503 when ingest, the flush or a sink has more WAL than this (bytes) to catch up. Zero: off.</summary>
    public long MaxLagBytes { get; set; }

    /// <summary>Every verification that finds discrepancies repairs them (a repair file, or a reload above <see cref="RepairMaxFraction"/>).</summary>
    public bool AutoRepair { get; set; }

    /// <summary>A repair that would change more than this fraction of the table's rows requests a full reload instead.</summary>
    public double RepairMaxFraction { get; set; } = 0.1;

    /// <summary>Each published table is verified this often (a scheduled verification). Zero: off.</summary>
    public TimeSpan VerifyInterval { get; set; } = TimeSpan.Zero;

    /// <summary>Scheduled verifications start only from this UTC time of day …</summary>
    public TimeSpan VerifyWindowStart { get; set; } = TimeSpan.Zero;

    /// <summary>… until this one (before the start: the window spans midnight; equal to it: all day).</summary>
    public TimeSpan VerifyWindowEnd { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// The longest pause between two attempts of a component whose failure is permanent (login refused, privilege
    /// missing, object gone): from 5 s, doubling, up to this. Transient failures keep their own, shorter back-off.
    /// </summary>
    public TimeSpan PermanentRetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);
}
