using System.ComponentModel;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Npgsql;
using Testcontainers.PostgreSql;

[assembly: InternalsVisibleTo("PgEgress.Tests")]

namespace PgEgress.Testing;

/// <summary>How <see cref="PostgresCluster.StartAsync(PostgresClusterOptions?, CancellationToken)"/> sets up a cluster.</summary>
public sealed record PostgresClusterOptions
{
    /// <summary>The server's wal_level; "replica" to test how PgEgress reacts to a source that cannot decode.</summary>
    public string WalLevel { get; init; } = "logical";

    /// <summary>
    /// fsync=off and full_page_writes=off: fast, and safe against the server process crashing (the OS page cache
    /// survives it), not against the machine crashing. synchronous_commit stays on: turning it off would let an
    /// immediate stop lose just-committed transactions, which crash-and-restart tests must not see.
    /// </summary>
    public bool FastUnsafe { get; init; } = true;

    /// <summary>Further postgresql.conf settings, written as <c>name = value</c> (quote string values yourself).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Roles other than postgres log in over TCP with their password (scram-sha-256), so that a wrong one is refused
    /// (28P01) as on a real server; postgres, the tests' administrator, stays trusted. Off: every login is trusted.
    /// </summary>
    public bool PasswordLogins { get; init; }

    /// <summary>
    /// Any server will do: the one named by <c>PGEGRESS_TEST_PG</c> when that variable is set, else a container when a
    /// Docker engine answers, else an initdb cluster. Tests that stop, restart or reconfigure the server set this to
    /// false so that they always get an initdb cluster of their own.
    /// </summary>
    public bool AllowExternalServer { get; init; } = true;
}

/// <summary>
/// A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free loopback port, the existing server named by
/// <c>PGEGRESS_TEST_PG</c>, or a throwaway Testcontainers.PostgreSql container (see <see cref="PostgresSourceSelection"/>).
/// As root, an initdb server runs as the postgres account, which PostgreSQL requires.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    /// <summary>Environment variable holding the connection string of an existing server (wal_level=logical, superuser).</summary>
    public const string ExternalServerVariable = "PGEGRESS_TEST_PG";

    // PostgreSQL 15, as the initdb path finds here, so that BinDir's client tools match the server.
    private const string ContainerImage = "postgres:15";
    private const string ClustersParent = "/tmp";
    private const string RootPrefix = "pgegress-test-";
    private const string OwnerLockFile = "owner.lock";
    private const int StartAttempts = 5;
    private const int LogTailLines = 40;

    // The owner lock already tells live clusters from dead ones; the age only covers the instant between a
    // cluster's directory being created and its lock being taken.
    private static readonly TimeSpan OrphanMinAge = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    private static readonly Lazy<string> BinDirLookup = new(LocateBinDir);
    private static readonly Lazy<Task> OrphanCleanup = new(() => DeleteOrphansAsync(ClustersParent, OrphanMinAge));
    private static readonly Lazy<Task<bool>> DockerReachable = new(DockerEngineProbe.IsReachableAsync);

    // As root, every server-side command runs as postgres; otherwise as the current user.
    private static readonly string? ServerUser = ProcessRunner.IsRoot ? "postgres" : null;

    private readonly string? _root;             // null when using the external server or a container
    private readonly FileStream? _ownerLock;    // held for the cluster's life: tells the orphan scan we are alive
    private readonly NpgsqlConnectionStringBuilder? _external; // the PGEGRESS_TEST_PG server or the container, else null
    private readonly PostgreSqlContainer? _container;
    private readonly List<string> _createdDatabases = [];
    private bool _running;
    private bool _disposed;

    private PostgresCluster(string root, FileStream ownerLock)
    {
        _root = root;
        _ownerLock = ownerLock;
    }

    private PostgresCluster(NpgsqlConnectionStringBuilder external, PostgreSqlContainer? container = null)
    {
        _external = external;
        _container = container;
        Port = external.Port;
    }

    /// <summary>True when this wraps <c>PGEGRESS_TEST_PG</c> or a container rather than an own initdb cluster.</summary>
    public bool IsExternal => _root is null;

    public int Port { get; private set; }

    /// <summary>Superuser connection string to the postgres database (error details included).</summary>
    public string ConnectionString => ConnectionStringFor(_external?.Database ?? "postgres");

    /// <summary>The PostgreSQL binaries directory (pg_recvlogical, psql, …).</summary>
    public string BinDir => FindBinDir();

    public string DataDir => Path.Combine(OwnRoot(), "data");

    private string LogPath => Path.Combine(OwnRoot(), "server.log");

    /// <summary>Wraps <c>PGEGRESS_TEST_PG</c> or starts a container when allowed (in that order), else starts an initdb cluster.</summary>
    public static async Task<PostgresCluster> StartAsync(PostgresClusterOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PostgresClusterOptions();
        // Checked before choosing, so that a test fails alike whichever server this machine would have given it.
        if (options.AllowExternalServer && (options.WalLevel != "logical" || options.Settings.Count > 0 || options.PasswordLogins))
            throw new ArgumentException(
                $"These options (wal_level={options.WalLevel}, {options.Settings.Count} extra settings) need a cluster of its own, "
                + $"which a shared server ({ExternalServerVariable} or a container) is not: set AllowExternalServer = false.",
                nameof(options));
        var external = Environment.GetEnvironmentVariable(ExternalServerVariable);
        switch (await PostgresSourceSelection.ChooseAsync(options.AllowExternalServer, external, () => DockerReachable.Value).ConfigureAwait(false))
        {
            case PostgresSource.External:
                return await UseExternalAsync(external!, ct).ConfigureAwait(false);
            case PostgresSource.Container:
                return await StartContainerAsync(options, ct).ConfigureAwait(false);
        }

        var binDir = FindBinDir();
        await OrphanCleanup.Value.ConfigureAwait(false);

        var root = (await ProcessRunner.RunAsync(
                "mktemp", ["-d", "-p", ClustersParent, RootPrefix + "XXXXXXXX"],
                new RunOptions { RunAs = ServerUser, WorkingDirectory = ClustersParent }, ct).ConfigureAwait(false))
            .EnsureSuccess().StandardOutput.Trim();
        var ownerLock = new FileStream(
            Path.Combine(root, OwnerLockFile), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        var cluster = new PostgresCluster(root, ownerLock);
        try
        {
            await cluster.InitAndStartAsync(binDir, options, ct).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAfterFailedStartAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The directory holding initdb and pg_ctl: <c>pg_config --bindir</c> when it has them (on Debian, pg_config may
    /// come from libpq-dev of another version), else the newest /usr/lib/postgresql/*/bin that does.
    /// </summary>
    public static string FindBinDir() => BinDirLookup.Value;

    public string ConnectionStringFor(string database)
    {
        var builder = _external is not null
            ? new NpgsqlConnectionStringBuilder(_external.ConnectionString)
            : new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres" };
        builder.Database = database;
        builder.IncludeErrorDetail = true;
        return builder.ConnectionString;
    }

    /// <summary>Creates an empty database and returns its connection string. On the external server it is dropped again at dispose.</summary>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        await ExecuteAsync($"CREATE DATABASE {QuoteIdentifier(name)}", null, ct).ConfigureAwait(false);
        if (IsExternal && _container is null)
        {
            lock (_createdDatabases) _createdDatabases.Add(name);
        }
        return ConnectionStringFor(name);
    }

    /// <summary>Runs SQL (one or more statements) in <paramref name="database"/>, by default the postgres database.</summary>
    public async Task ExecuteAsync(string sql, string? database = null, CancellationToken ct = default)
    {
        await using var connection = await OpenAdminConnectionAsync(database, ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Stops the server: immediate is a crash from PostgreSQL's point of view (recovery at next start), otherwise a clean fast shutdown.</summary>
    public async Task StopAsync(bool immediate = false, CancellationToken ct = default)
    {
        EnsureOwnCluster(running: true);
        await PgCtlAsync(["stop", "-D", DataDir, "-m", immediate ? "immediate" : "fast", "-w", "-t", "60"], ct)
            .ConfigureAwait(false);
        _running = false;
        // Pooled connections to the stopped server are dead; drop them so that tests see fresh ones after a restart.
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>Starts the stopped server again on the same data directory and port.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        EnsureOwnCluster(running: false);
        await PgCtlAsync(["start", "-D", DataDir, "-l", LogPath, "-w", "-t", "60"], ct).ConfigureAwait(false);
        _running = true;
    }

    /// <summary>The server log so far.</summary>
    public string ReadLog() => ReadLogFrom(0);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (_container is not null)
        {
            await _container.DisposeAsync().ConfigureAwait(false);
            NpgsqlConnection.ClearAllPools(); // a later server may get this port: it must not be handed our dead connections
            return;
        }
        if (IsExternal)
        {
            foreach (var database in _createdDatabases) await DropExternalDatabaseAsync(database).ConfigureAwait(false);
            return;
        }

        try
        {
            // Asking pg_ctl (rather than trusting _running) also covers a server that died or was left starting.
            var status = await RunServerCommandAsync("pg_ctl", ["status", "-D", DataDir], default).ConfigureAwait(false);
            if (status.ExitCode == 0)
                await PgCtlAsync(["stop", "-D", DataDir, "-m", "immediate", "-w", "-t", "60"], default).ConfigureAwait(false);
            NpgsqlConnection.ClearAllPools(); // a later cluster may get this port: it must not be handed our dead connections
            Directory.Delete(_root!, recursive: true);
        }
        finally
        {
            // Released even when the cleanup failed, so that the next orphan scan finishes the job.
            await _ownerLock!.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Deletes the clusters under <paramref name="parent"/> whose owning test process is gone (its lock on
    /// owner.lock is released by the kernel when it dies), stopping their postmaster first if it still runs.
    /// Directories of other accounts, or still in use, are left alone.
    /// </summary>
    internal static async Task DeleteOrphansAsync(string parent, TimeSpan minAge)
    {
        foreach (var root in Directory.EnumerateDirectories(parent, RootPrefix + "*"))
        {
            try
            {
                if (DateTime.UtcNow - Directory.GetLastWriteTimeUtc(root) < minAge || IsOwnerAlive(root)) continue;
                var dataDir = Path.Combine(root, "data");
                if (File.Exists(Path.Combine(dataDir, "postmaster.pid")))
                {
                    // Result ignored: the pid file may be stale (postmaster already dead), which is just as good.
                    await ProcessRunner.RunAsync(
                        Path.Combine(FindBinDir(), "pg_ctl"), ["stop", "-D", dataDir, "-m", "immediate", "-w", "-t", "30"],
                        new RunOptions { RunAs = ServerUser, WorkingDirectory = parent, Timeout = CommandTimeout }).ConfigureAwait(false);
                }
                Directory.Delete(root, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another account's directory, or removed concurrently: not ours to clean.
            }
        }
    }

    private static bool IsOwnerAlive(string root)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(root, OwnerLockFile), FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false; // the owner died before taking its lock
        }
        catch (IOException)
        {
            return true; // locked: the owner lives
        }
    }

    private static async Task<PostgresCluster> UseExternalAsync(string connectionString, CancellationToken ct)
    {
        var cluster = new PostgresCluster(new NpgsqlConnectionStringBuilder(connectionString));
        await using var connection = await cluster.OpenAdminConnectionAsync(null, ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SHOW wal_level", connection);
        var walLevel = (string?)await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        if (walLevel != "logical")
            throw new InvalidOperationException($"The server in {ExternalServerVariable} has wal_level={walLevel}; PgEgress tests need wal_level=logical.");
        return cluster;
    }

    // The settings an initdb cluster writes to postgresql.auto.conf (WriteSettings), as command-line options that
    // come after, and so override, the builder's own fsync/full_page_writes/synchronous_commit=off. Trust
    // authentication as initdb -A trust: tests log in as roles they create without a password.
    private static async Task<PostgresCluster> StartContainerAsync(PostgresClusterOptions options, CancellationToken ct)
    {
        var durability = options.FastUnsafe ? "off" : "on";
        var container = new PostgreSqlBuilder(ContainerImage)
            .WithUsername("postgres")
            .WithPassword("postgres")
            .WithEnvironment("POSTGRES_INITDB_ARGS", "--encoding=UTF8 --locale=C")
            .WithEnvironment("POSTGRES_HOST_AUTH_METHOD", "trust")
            .WithCommand("-c", "wal_level=logical", "-c", "max_replication_slots=100", "-c", "max_wal_senders=100")
            .WithCommand("-c", $"fsync={durability}", "-c", $"full_page_writes={durability}", "-c", "synchronous_commit=on")
            .Build();
        try
        {
            await container.StartAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await container.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new PostgresCluster(new NpgsqlConnectionStringBuilder(container.GetConnectionString()), container);
    }

    private async Task InitAndStartAsync(string binDir, PostgresClusterOptions options, CancellationToken ct)
    {
        EnsureSucceeded(await RunServerCommandAsync(Path.Combine(binDir, "initdb"),
            ["-D", DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], ct).ConfigureAwait(false));

        if (options.PasswordLogins) WritePasswordLogins();
        for (var attempt = 1; ; attempt++)
        {
            // The port is free when picked but may be taken before the postmaster binds it: then pick another.
            Port = FreeLoopbackPort();
            WriteSettings(options);
            var logOffset = LogLength();
            var start = await RunServerCommandAsync(
                "pg_ctl", ["start", "-D", DataDir, "-l", LogPath, "-w", "-t", "60"], ct).ConfigureAwait(false);
            if (start.Succeeded) break;
            if (attempt == StartAttempts || !ReadLogFrom(logOffset).Contains("could not bind", StringComparison.Ordinal))
                EnsureSucceeded(start);
        }
        _running = true;
    }

    // pg_hba.conf exists owned by the server account: rewriting it in place keeps that owner even as root.
    private void WritePasswordLogins() => File.WriteAllText(Path.Combine(DataDir, "pg_hba.conf"), """
        # Written by PgEgress.Testing.PostgresCluster (PasswordLogins): postgres is trusted, every other role needs its password.
        local all all trust
        host all postgres 127.0.0.1/32 trust
        host replication postgres 127.0.0.1/32 trust
        host all all 127.0.0.1/32 scram-sha-256
        host replication all 127.0.0.1/32 scram-sha-256

        """);

    // postgresql.auto.conf is read last, and it already exists owned by the server account, so overwriting it
    // keeps the right owner even when this process is root (ALTER SYSTEM later keeps these lines).
    private void WriteSettings(PostgresClusterOptions options)
    {
        var settings = new List<(string Name, string Value)>
        {
            ("listen_addresses", "'127.0.0.1'"),
            ("port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("unix_socket_directories", $"'{OwnRoot()}'"),
            ("wal_level", options.WalLevel),
            ("max_replication_slots", "100"), // every test database has its own slot
            ("max_wal_senders", "100"),
            ("logging_collector", "off"),
        };
        if (options.FastUnsafe) settings.AddRange([("fsync", "off"), ("full_page_writes", "off")]);
        settings.AddRange(options.Settings.Select(s => (s.Key, s.Value)));

        var text = new StringBuilder("# Written by PgEgress.Testing.PostgresCluster for a throwaway test cluster.\n");
        foreach (var (name, value) in settings) text.Append(name).Append(" = ").Append(value).Append('\n');
        File.WriteAllText(Path.Combine(DataDir, "postgresql.auto.conf"), text.ToString());
    }

    // Best effort: a start that failed is already being reported; whatever is left here the orphan scan removes
    // once the owner lock is released, which DisposeAsync guarantees.
    private async Task DisposeAfterFailedStartAsync()
    {
        try
        {
            await DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ProcessFailedException or IOException or UnauthorizedAccessException)
        {
        }
    }

    // Slots pin a database (DROP DATABASE refuses while one exists) and, left behind on a shared server, hold its WAL forever.
    private async Task DropExternalDatabaseAsync(string database)
    {
        await using var connection = await OpenAdminConnectionAsync(null, default).ConfigureAwait(false);
        async Task<object?> QueryAsync(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection) { Parameters = { new("db", database) } };
            return await command.ExecuteScalarAsync().ConfigureAwait(false);
        }

        // A terminated walsender releases its slot a moment later: poll until no slot is left.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            await QueryAsync("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = @db AND active_pid IS NOT NULL")
                .ConfigureAwait(false);
            try
            {
                await QueryAsync("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = @db AND active_pid IS NULL")
                    .ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse)
            {
                // Taken again between the query and the drop: the next round terminates its user.
            }
            if ((long)(await QueryAsync("SELECT count(*) FROM pg_replication_slots WHERE database = @db").ConfigureAwait(false))! == 0) break;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Replication slots of database {database} on the {ExternalServerVariable} server could not be dropped within 30 s.");
            await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
        }
        await QueryAsync($"DROP DATABASE IF EXISTS {QuoteIdentifier(database)} WITH (FORCE)").ConfigureAwait(false);
    }

    private void EnsureSucceeded(ProcessResult result) => result.EnsureSuccess(LogTail());

    private async Task<ProcessResult> RunServerCommandAsync(string file, IEnumerable<string> args, CancellationToken ct)
    {
        var path = Path.IsPathRooted(file) ? file : Path.Combine(BinDir, file);
        return await ProcessRunner.RunAsync(path, args,
            new RunOptions { RunAs = ServerUser, WorkingDirectory = _root, Timeout = CommandTimeout }, ct).ConfigureAwait(false);
    }

    private async Task PgCtlAsync(IEnumerable<string> args, CancellationToken ct) =>
        EnsureSucceeded(await RunServerCommandAsync("pg_ctl", args, ct).ConfigureAwait(false));

    private async Task<NpgsqlConnection> OpenAdminConnectionAsync(string? database, CancellationToken ct)
    {
        // Unpooled: the fixture's own connections must not outlive a restart or keep a database from being dropped.
        var builder = new NpgsqlConnectionStringBuilder(database is null ? ConnectionString : ConnectionStringFor(database))
        {
            Pooling = false,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private string OwnRoot() => _root ?? throw new NotSupportedException(
        $"This PostgresCluster uses {(_container is null ? "the existing server from " + ExternalServerVariable : "a container")}: "
        + "it has no data directory or log here and cannot be stopped or restarted. Start it with AllowExternalServer = false for that.");

    private void EnsureOwnCluster(bool running)
    {
        OwnRoot();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_running != running)
            throw new InvalidOperationException(running ? "The cluster is not running." : "The cluster is already running.");
    }

    private string ReadLogFrom(long offset)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return ""; // the server has not been started yet
        }
    }

    private long LogLength() => File.Exists(LogPath) ? new FileInfo(LogPath).Length : 0;

    private string LogTail()
    {
        var lines = ReadLogFrom(0).Split('\n');
        return $"--- server log {LogPath} (last {LogTailLines} lines) ---\n" + string.Join('\n', lines.TakeLast(LogTailLines));
    }

    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string LocateBinDir()
    {
        static bool HasServer(string dir) => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));
        try
        {
            var pgConfig = ProcessRunner.RunAsync("pg_config", ["--bindir"], new RunOptions { Timeout = TimeSpan.FromSeconds(30) })
                .GetAwaiter().GetResult();
            var dir = pgConfig.StandardOutput.Trim();
            if (pgConfig.Succeeded && HasServer(dir)) return dir;
        }
        catch (Win32Exception)
        {
            // pg_config is not installed: try the usual location.
        }

        const string debianRoot = "/usr/lib/postgresql";
        var candidates = Directory.Exists(debianRoot) ? Directory.GetDirectories(debianRoot) : [];
        return candidates
                   .Select(d => (Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0, Bin: Path.Combine(d, "bin")))
                   .Where(c => HasServer(c.Bin))
                   .OrderByDescending(c => c.Version)
                   .Select(c => c.Bin)
                   .FirstOrDefault()
               ?? throw new FileNotFoundException(
                   "No PostgreSQL server binaries (initdb, pg_ctl) found via `pg_config --bindir` or in /usr/lib/postgresql/*/bin. "
                   + $"Install the PostgreSQL server, or set {ExternalServerVariable} to the connection string of a server with wal_level=logical.");
    }
}
