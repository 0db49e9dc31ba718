namespace PgEgress.Core.Configuration;

public enum SinkKind
{
    Http,
    Hook0,
    Postgres,
    ClickHouse,
}

/// <summary>The Http sink's payload: CloudEvents in its JSON format, or in its XML format.</summary>
public enum SinkFormat
{
    Json,
    Xml,
}

/// <summary>One named push sink (PgEgress:Sinks:{name}:…). Each delivers the staged log from its own cursor.</summary>
public sealed class SinkOptions
{
    public SinkKind? Kind { get; set; }

    public bool Enabled { get; set; } = true;

    /// <summary>Tables ("schema.table") to deliver; empty: every published table.</summary>
    public List<string> Tables { get; set; } = [];

    /// <summary>Operations to deliver: insert, update, delete, truncate; empty: all.</summary>
    public List<string> Operations { get; set; } = [];

    /// <summary>Parallel deliveries, by a hash of the row's key (Http, Hook0). The Postgres sink applies transactions in order, one at a time.</summary>
    public int Workers { get; set; } = 4;

    /// <summary>Http: the webhook URL. Hook0: the API base (e.g. https://app.hook0.com).</summary>
    public string Url { get; set; } = "";

    /// <summary>Http: POST or PUT.</summary>
    public string Method { get; set; } = "POST";

    /// <summary>Http: the payload format; unset, <see cref="EventFormat"/> or else JSON.</summary>
    public SinkFormat? Format { get; set; }

    /// <summary>Http: another name for <see cref="Format"/> (the seeds' settings list calls it so); both set must agree.</summary>
    public SinkFormat? EventFormat { get; set; }

    /// <summary>The payload format in effect.</summary>
    public SinkFormat EffectiveFormat => Format ?? EventFormat ?? SinkFormat.Json;

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts for a request the endpoint rejects (4xx other than 408/429) before it goes to the dead-letter area.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>
    /// Retries of a request that failed in a way that may pass (network error, timeout, 408, 429, 5xx, 401/403) before its
    /// events go to the dead-letter area; unset: retried until they succeed, the cursor waiting.
    /// </summary>
    public int? Retries { get; set; }

    /// <summary>Http, Hook0: requests per second this sink sends at most, across its workers; unset: no limit.</summary>
    public double? MaxRequestsPerSecond { get; set; }

    /// <summary>First retry delay; doubles with jitter up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Http: a fixed header sent with every request (e.g. Authorization), with <see cref="AuthHeaderValue"/>.</summary>
    public string AuthHeaderName { get; set; } = "";

    public string AuthHeaderValue { get; set; } = "";

    /// <summary>Http: Standard Webhooks signing secret (whsec_… base64); empty: unsigned.</summary>
    public string Secret { get; set; } = "";

    /// <summary>Http: events per request; above 1 the body is a JSON array (application/cloudevents-batch+json).</summary>
    public int BatchMaxEvents { get; set; } = 1;

    /// <summary>Http: how long a worker waits to fill a batch.</summary>
    public TimeSpan BatchMaxWait { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Hook0: the Biscuit service token, sent as Authorization: Bearer.</summary>
    public string Token { get; set; } = "";

    /// <summary>Hook0: the application's UUID.</summary>
    public string ApplicationId { get; set; } = "";

    /// <summary>Postgres: the target database's Npgsql connection string.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>ClickHouse: the database the tables are in (created with the tables when <see cref="CreateTables"/>).</summary>
    public string Database { get; set; } = "";

    /// <summary>ClickHouse: the user, sent as X-ClickHouse-User.</summary>
    public string User { get; set; } = "default";

    /// <summary>ClickHouse: the user's password, sent as X-ClickHouse-Key; empty: none.</summary>
    public string Password { get; set; } = "";

    /// <summary>ClickHouse: changes per INSERT at most (a batch also ends after <see cref="BatchMaxWait"/> of reading, or at <see cref="BatchMaxBytes"/>).</summary>
    public int BatchMaxRows { get; set; } = 10_000;

    /// <summary>ClickHouse: about this many bytes of values per batch at most.</summary>
    public long BatchMaxBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Postgres, ClickHouse: create missing target tables from the stream's relation metadata.</summary>
    public bool CreateTables { get; set; }
}
