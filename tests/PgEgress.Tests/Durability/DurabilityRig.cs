using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Storage;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.Pipeline;
using PgEgress.Tests.Verification;

namespace PgEgress.Tests.Durability;

/// <summary>
/// One durability test's world: its own database (the <see cref="Workload"/> schema), replication slot, output folder
/// and work folder, the environment that configures a <see cref="HostProcess.HostProcess"/> for them, and the checks
/// the durability tests share (rebuild every table, registered files intact, no stray output).
/// </summary>
internal sealed class DurabilityRig : IAsyncDisposable
{
    public const string ApiKey = "durability-test-key";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(4) };

    private readonly string _root;

    private DurabilityRig(string connectionString, string root)
    {
        ConnectionString = connectionString;
        Db = NpgsqlDataSource.Create(connectionString);
        _root = root;
        Output = Path.Combine(root, "out");
        Work = Path.Combine(root, "work");
        Slot = "pgegress_" + new NpgsqlConnectionStringBuilder(connectionString).Database!.ToLowerInvariant();
        Store = new FileSystemObjectStore(Output);
    }

    public string ConnectionString { get; }
    public NpgsqlDataSource Db { get; }
    public string Output { get; }
    public string Work { get; }
    public string Slot { get; }
    public IObjectStore Store { get; }

    /// <summary>A fresh database with the <see cref="Workload"/> schema (and <paramref name="extraSchema"/>).</summary>
    public static async Task<DurabilityRig> CreateAsync(PostgresFixture pg, string name, string? extraSchema = null)
    {
        var cs = await pg.CreateUniqueDatabaseAsync(name);
        var rig = new DurabilityRig(cs, Directory.CreateTempSubdirectory("pgegress-durability-").FullName);
        await rig.ExecAsync(Workload.Schema + (extraSchema ?? ""));
        return rig;
    }

    /// <summary>The host's configuration: this database, schema "app", one-second slices, the local output folder.</summary>
    public Dictionary<string, string?> HostEnvironment(string? crashAt = null, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var env = new Dictionary<string, string?>
        {
            ["PgEgress__Source__ConnectionString"] = ConnectionString,
            ["PgEgress__Source__Slot"] = Slot,
            ["PgEgress__Source__Schemas__0"] = "app",
            ["PgEgress__Storage__Kind"] = "FileSystem",
            ["PgEgress__Storage__Path"] = Output,
            ["PgEgress__Slice__MaxDuration"] = "00:00:01",
            ["PgEgress__Api__Key"] = ApiKey,
            ["PgEgress__WorkDirectory"] = Work,
            // The Workload tables are empty when the slot is created; an initial load would only hold their first
            // changes back until its empty export registers (tests/PgEgress.Tests/Reload covers it).
            ["PgEgress__Reload__InitialLoad"] = "false",
            // Set or removed explicitly, so that nothing in the test runner's environment arms a crash by accident.
            ["PGEGRESS_CRASH_AT"] = crashAt,
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) env[k] = v;
        return env;
    }

    /// <summary>Starts the host and waits until it serves HTTP.</summary>
    public async Task<HostProcess.HostProcess> StartHostAsync(string? crashAt = null, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var host = HostProcess.HostProcess.Start(HostEnvironment(crashAt, extra));
        try
        {
            await host.WaitListeningAsync(TimeSpan.FromSeconds(60));
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>POST /api/flush; fails the test unless it answers 200 with the flush result.</summary>
    public static async Task<JsonElement> FlushAsync(HostProcess.HostProcess host)
    {
        using var response = await SendFlushAsync(host);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode,
            $"POST /api/flush answered {(int)response.StatusCode}: {body}\nhost stdout tail:\n{Tail(host)}\nstderr: {host.StandardError}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>POST /api/flush, whatever it answers (for a host that is expected to die while flushing).</summary>
    public static async Task<HttpResponseMessage> SendFlushAsync(HostProcess.HostProcess host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{host.Url}/api/flush");
        request.Headers.Add("x-functions-key", ApiKey);
        return await Http.SendAsync(request);
    }

    public static string Tail(HostProcess.HostProcess host, int lines = 30) =>
        string.Join("\n", host.StandardOutput.TakeLast(lines));

    public async Task ExecAsync(string sql)
    {
        await using var cmd = Db.CreateCommand(sql);
        cmd.CommandTimeout = 600; // bulk loads (2M rows) on a busy two-core machine outlast the default 30 s
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql, params object[] parameters)
    {
        await using var cmd = Db.CreateCommand(sql);
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task<ulong> CurrentWalLsnAsync() => (ulong)await ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");

    /// <summary>The slot's confirmed_flush_lsn (0 when the slot has none yet).</summary>
    public async Task<ulong> ConfirmedFlushLsnAsync()
    {
        await using var cmd = Db.CreateCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1");
        cmd.Parameters.Add(new() { Value = Slot });
        return await cmd.ExecuteScalarAsync() is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    /// <summary>Polls until the slot is confirmed at or past <paramref name="lsn"/>; fails after <paramref name="timeout"/>.</summary>
    public async Task WaitConfirmedAsync(ulong lsn, TimeSpan timeout, Func<string>? context = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        ulong confirmed;
        while ((confirmed = await ConfirmedFlushLsnAsync()) < lsn)
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"slot {Slot} stayed at {new NpgsqlLogSequenceNumber(confirmed)} for {timeout.TotalSeconds:0} s, short of {new NpgsqlLogSequenceNumber(lsn)}. {context?.Invoke()}");
            await Task.Delay(100);
        }
    }

    /// <summary>Rebuilds every <see cref="Workload"/> table from its registered files and asserts it equals the source, with no position in two files.</summary>
    public async Task VerifyEveryTableAsync()
    {
        var verifier = new OutputVerifier(Db, Store);
        foreach (var table in Workload.Tables)
        {
            var rebuild = await verifier.RebuildAsync("app", table);
            Assert.True(rebuild.Files > 0, $"app.{table}: no registered file");
            Assert.True(rebuild.Differences.Count == 0, $"app.{table} does not rebuild exactly ({rebuild.Files} file(s), {rebuild.Rows} row(s)):\n{string.Join("\n", rebuild.Differences.Select(Shorten))}");
            Assert.True(rebuild.DuplicatePositions.Count == 0, $"app.{table}: (_lsn, _seq) pairs in more than one row:\n{string.Join("\n", rebuild.DuplicatePositions)}");
        }
    }

    private static string Shorten(string s) => s.Length <= 400 ? s : s[..400] + $"… ({s.Length} chars)";

    public sealed record RegisteredFile(string Path, long Bytes, string Sha256, long Rows);

    public async Task<List<RegisteredFile>> RegisteredFilesAsync()
    {
        var list = new List<RegisteredFile>();
        await using var cmd = Db.CreateCommand("SELECT path, bytes, sha256, rows FROM cdc_registry.file_log ORDER BY id");
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(new RegisteredFile(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3)));
        return list;
    }

    public async Task<List<RegisteredFile>> RegisteredSegmentsAsync()
    {
        var list = new List<RegisteredFile>();
        await using var cmd = Db.CreateCommand("SELECT path, bytes, sha256, changes FROM cdc_registry.segments WHERE slot = $1 ORDER BY end_lsn");
        cmd.Parameters.Add(new() { Value = Slot });
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(new RegisteredFile(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3)));
        return list;
    }

    /// <summary>Asserts that every registered object (output file or staged segment) exists and has exactly its registered size and sha256.</summary>
    public async Task AssertRegisteredObjectsIntactAsync(IEnumerable<RegisteredFile> registered)
    {
        foreach (var f in registered)
        {
            var full = Path.Combine(Output, f.Path);
            Assert.True(File.Exists(full), $"{f.Path} is registered but missing from {Output}");
            await using var file = File.OpenRead(full);
            Assert.True(file.Length == f.Bytes, $"{f.Path}: {file.Length} bytes on disk, {f.Bytes} registered");
            var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file));
            Assert.True(sha == f.Sha256, $"{f.Path}: sha256 {sha} on disk, {f.Sha256} registered");
        }
    }

    /// <summary>Every file under the output folder, as object paths ('/'-separated, relative to the folder), including temporary files.</summary>
    public List<string> OutputFiles() =>
        !Directory.Exists(Output) ? [] :
        [.. Directory.EnumerateFiles(Output, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Output, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)];

    public async ValueTask DisposeAsync()
    {
        // Slots are cluster-wide: drop this one so it holds no WAL for the rest of the run. A killed host's walsender
        // may take a moment to notice; the slot is dropped as soon as it is inactive.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await using (var drop = Db.CreateCommand("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active"))
                {
                    drop.Parameters.Add(new() { Value = Slot });
                    await drop.ExecuteNonQueryAsync();
                }
                await using var left = Db.CreateCommand("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1");
                left.Parameters.Add(new() { Value = Slot });
                if ((long)(await left.ExecuteScalarAsync())! == 0) break;
            }
            catch (PostgresException e) when (e.SqlState == "55006")
            {
                // Became active again between the check and the drop: try again.
            }
            await Task.Delay(200);
        }
        await Db.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }
}
