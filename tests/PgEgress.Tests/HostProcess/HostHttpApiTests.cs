using System.IO.Compression;
using System.Net;
using System.Text.Json;
using Npgsql;
using PgEgress.Tests.Fixtures;

namespace PgEgress.Tests.HostProcess;

/// <summary>One real host (folder store, schema "app" published) shared by the HTTP tests of a class.</summary>
public class RunningHostFixture(PostgresFixture pg) : IAsyncLifetime
{
    public const string Key = "test-key-Vq82mZ-4k";

    private HostProcess? _host;

    public HostProcess Host => _host ?? throw new InvalidOperationException("the host has not started");
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(150) };
    public NpgsqlDataSource Db { get; private set; } = null!;
    public string Root { get; } = Directory.CreateTempSubdirectory("pgegress-hosthttp-").FullName;
    public string OutputFolder => Path.Combine(Root, "out");
    public string Slot { get; } = HostSettings.UniqueSlot();

    public async Task InitializeAsync()
    {
        var cs = await pg.CreateUniqueDatabaseAsync("hp_http");
        Db = NpgsqlDataSource.Create(cs);
        await using (var cmd = Db.CreateCommand("""
            CREATE SCHEMA app;
            CREATE TABLE app.items (id int PRIMARY KEY, note text);
            CREATE TABLE app.flushed (id int PRIMARY KEY, note text);
            CREATE TABLE app.reloaded (id int PRIMARY KEY, note text);
            INSERT INTO app.reloaded SELECT g, 'before the slot ' || g FROM generate_series(1, 300) g;
            CREATE TABLE public.outside (id int PRIMARY KEY);
            """))
            await cmd.ExecuteNonQueryAsync();
        var settings = HostSettings.For(cs, Root, Slot, Key);
        foreach (var (name, value) in await ExtraSettingsAsync(pg)) settings[name] = value;
        _host = HostProcess.Start(settings);
        Http.BaseAddress = new Uri(await _host.WaitListeningAsync(TimeSpan.FromSeconds(60)));
    }

    /// <summary>Settings a derived fixture adds to the host's (a sink, say).</summary>
    protected virtual Task<IReadOnlyDictionary<string, string?>> ExtraSettingsAsync(PostgresFixture postgres) =>
        Task.FromResult<IReadOnlyDictionary<string, string?>>(new Dictionary<string, string?>());

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.TerminateAsync(TimeSpan.FromSeconds(40));
            }
            finally
            {
                await _host.DisposeAsync();
            }
        }
        Http.Dispose();
        if (Db is not null) await Db.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>The HTTP API of a running host, over real HTTP on loopback, as an operator or a script uses it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class HostHttpApiTests(RunningHostFixture fx) : IClassFixture<RunningHostFixture>
{
    private static HttpRequestMessage Request(HttpMethod method, string path, string? headerKey = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (headerKey is not null) request.Headers.Add("x-functions-key", headerKey);
        return request;
    }

    private async Task<(HttpStatusCode Status, string? ContentType, JsonElement Body)> SendAsync(HttpRequestMessage request)
    {
        using var response = await fx.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
    }

    [Fact]
    public async Task Health_answers_200_without_a_key()
    {
        var (status, _, body) = await SendAsync(Request(HttpMethod.Get, "/api/health"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("up", body.GetProperty("status").GetString());
    }

    public static TheoryData<string, string, string> RefusedRequests()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (method, path) in new[] { ("GET", "/api/status"), ("GET", "/api/ready"), ("POST", "/api/flush") })
        foreach (var how in new[] { "no key", "wrong header", "wrong code", "empty header" })
            data.Add(method, path, how);
        return data;
    }

    [Theory]
    [MemberData(nameof(RefusedRequests))]
    public async Task Keyed_routes_without_the_right_key_answer_401_problem_json(string method, string path, string how)
    {
        var request = how switch
        {
            "no key" => Request(new HttpMethod(method), path),
            "wrong header" => Request(new HttpMethod(method), path, RunningHostFixture.Key + "x"),
            "wrong code" => Request(new HttpMethod(method), path + "?code=" + RunningHostFixture.Key[..^1]),
            "empty header" => Request(new HttpMethod(method), path, ""),
            _ => throw new ArgumentOutOfRangeException(nameof(how)),
        };

        var (status, contentType, body) = await SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(401, body.GetProperty("status").GetInt32());
        Assert.Contains("x-functions-key", body.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("/api/status", "header")]
    [InlineData("/api/status", "code")]
    [InlineData("/api/ready", "header")]
    [InlineData("/api/ready", "code")]
    public async Task Keyed_routes_with_the_key_in_the_header_or_code_answer_200(string path, string how)
    {
        var request = how == "header"
            ? Request(HttpMethod.Get, path, RunningHostFixture.Key)
            : Request(HttpMethod.Get, $"{path}?code={Uri.EscapeDataString(RunningHostFixture.Key)}");

        var (status, contentType, _) = await SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("application/json", contentType);
    }

    [Fact]
    public async Task An_unknown_route_is_404_and_GET_on_flush_is_405()
    {
        using var unknown = await fx.Http.SendAsync(Request(HttpMethod.Get, "/api/nope", RunningHostFixture.Key));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var getFlush = await fx.Http.SendAsync(Request(HttpMethod.Get, "/api/flush", RunningHostFixture.Key));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, getFlush.StatusCode);
        Assert.Contains("POST", getFlush.Content.Headers.Allow);
    }

    [Fact]
    public async Task Status_reports_the_slot_and_positions_in_snake_case()
    {
        var (status, _, body) = await SendAsync(Request(HttpMethod.Get, "/api/status", RunningHostFixture.Key));

        Assert.Equal(HttpStatusCode.OK, status);
        var slot = body.GetProperty("slot");
        Assert.Equal(fx.Slot, slot.GetProperty("name").GetString());
        Assert.True(slot.GetProperty("exists").GetBoolean());
        Assert.Matches(Lsn, slot.GetProperty("confirmed_flush_lsn").GetString()!);
        Assert.Matches(Lsn, body.GetProperty("staged_lsn").GetString()!);
        Assert.Matches(Lsn, body.GetProperty("flushed_lsn").GetString()!);
        Assert.Equal(JsonValueKind.Array, body.GetProperty("tables").ValueKind);
        Assert.True(body.TryGetProperty("pending_segments", out _));
        Assert.False(body.TryGetProperty("stagedLsn", out _));
    }

    private const string Lsn = "^[0-9A-F]+/[0-9A-F]+$";

    [Fact]
    public async Task Flush_answers_200_only_once_the_rows_are_in_registered_files_on_disk()
    {
        const int rows = 37;
        await using (var insert = fx.Db.CreateCommand($"INSERT INTO app.flushed SELECT g, 'note ' || g FROM generate_series(1, {rows}) g"))
            await insert.ExecuteNonQueryAsync();
        await using (var more = fx.Db.CreateCommand("UPDATE app.flushed SET note = 'changed' WHERE id <= 3"))
            await more.ExecuteNonQueryAsync();

        var (status, _, body) = await SendAsync(Request(HttpMethod.Post, "/api/flush", RunningHostFixture.Key));

        // Everything below is read right after the response: no waiting, the answer promises it is all there.
        Assert.Equal(HttpStatusCode.OK, status);
        var answered = body.GetProperty("files").EnumerateArray()
            .Where(f => f.GetProperty("table").GetString() == "app.flushed")
            .Select(f => f.GetProperty("path").GetString()!)
            .ToList();
        Assert.NotEmpty(answered);

        var registered = new List<(string Path, long Rows)>();
        await using (var cmd = fx.Db.CreateCommand("SELECT path, rows FROM cdc_registry.file_log WHERE table_name = 'app.flushed' AND file_type = 'streaming' ORDER BY end_lsn"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) registered.Add((r.GetString(0), r.GetInt64(1)));
        Assert.Subset(registered.Select(f => f.Path).ToHashSet(), answered.ToHashSet());
        Assert.Equal(rows + 3, registered.Sum(f => f.Rows));

        var ops = new List<(string Op, int Id)>();
        foreach (var (path, count) in registered)
        {
            var file = Path.Combine(fx.OutputFolder, path);
            Assert.True(File.Exists(file), $"{path} is registered but not on disk");
            var records = await ReadCsvAsync(file);
            Assert.Equal(count, records.Count);
            ops.AddRange(records.Select(rec => (rec["_op"], int.Parse(rec["id"]))));
        }
        Assert.Equal(Enumerable.Range(1, rows), ops.Where(o => o.Op == "I").Select(o => o.Id).Order());
        Assert.Equal([1, 2, 3], ops.Where(o => o.Op == "U").Select(o => o.Id).Order());
    }

    /// <summary>The rows of a gzip CSV whose values contain no quotes, commas or newlines, by column name.</summary>
    private static async Task<List<Dictionary<string, string>>> ReadCsvAsync(string path)
    {
        await using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        var header = (await reader.ReadLineAsync())!.Split(',');
        var records = new List<Dictionary<string, string>>();
        while (await reader.ReadLineAsync() is { } line)
        {
            var values = line.Split(',');
            Assert.Equal(header.Length, values.Length);
            records.Add(header.Zip(values).ToDictionary(p => p.First, p => p.Second));
        }
        return records;
    }

    [Fact]
    public async Task Ready_is_200_when_all_is_well_and_503_naming_the_store_when_its_folder_is_gone()
    {
        var (okStatus, _, ok) = await SendAsync(Request(HttpMethod.Get, "/api/ready", RunningHostFixture.Key));
        Assert.Equal(HttpStatusCode.OK, okStatus);
        Assert.True(ok.GetProperty("ready").GetBoolean());
        Assert.Equal(["errors", "flush", "slot", "source", "store"], ok.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()).Order());
        Assert.All(ok.GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("ok").GetBoolean()));

        // The tests run as root, where permissions do not stop writes; a plain file where the folder was does.
        var moved = fx.OutputFolder + ".moved";
        Directory.Move(fx.OutputFolder, moved);
        try
        {
            await File.WriteAllTextAsync(fx.OutputFolder, "not a folder");

            var (badStatus, _, bad) = await SendAsync(Request(HttpMethod.Get, "/api/ready", RunningHostFixture.Key));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, badStatus);
            Assert.False(bad.GetProperty("ready").GetBoolean());
            var store = bad.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "store");
            Assert.False(store.GetProperty("ok").GetBoolean());
            Assert.Contains(fx.OutputFolder, store.GetProperty("detail").GetString());
            var source = bad.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "source");
            Assert.True(source.GetProperty("ok").GetBoolean());
        }
        finally
        {
            File.Delete(fx.OutputFolder);
            Directory.Move(moved, fx.OutputFolder);
        }

        var (againStatus, _, _) = await SendAsync(Request(HttpMethod.Get, "/api/ready", RunningHostFixture.Key));
        Assert.Equal(HttpStatusCode.OK, againStatus);
    }

    [Fact]
    public void Every_stdout_line_is_a_json_log_record()
    {
        var lines = fx.Host.StandardOutput.ToList();
        Assert.NotEmpty(lines);
        foreach (var line in lines)
        {
            JsonElement record;
            try
            {
                record = JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException e)
            {
                throw new Xunit.Sdk.XunitException($"not JSON ({e.Message}): {line}");
            }
            Assert.Equal(JsonValueKind.Object, record.ValueKind);
            Assert.Contains(record.GetProperty("LogLevel").GetString(), new[] { "Trace", "Debug", "Information", "Warning", "Error", "Critical" });
            Assert.Equal(JsonValueKind.String, record.GetProperty("Message").ValueKind);
            Assert.False(string.IsNullOrEmpty(record.GetProperty("Category").GetString()));
        }
        Assert.Contains(fx.Host.LogRecords(), r => r.GetProperty("Message").GetString()!.StartsWith("Now listening on: http://127.0.0.1:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("app.items.x", "a cross-database reference")]
    [InlineData("app.it%0Aems", "a line break")]
    public async Task A_malformed_table_name_is_400_problem_json(string table, string because)
    {
        var (status, type, body) = await SendAsync(Request(HttpMethod.Post, $"/api/tables/{table}/reload", RunningHostFixture.Key));

        Assert.True((HttpStatusCode.BadRequest, "application/problem+json") == (status, type), $"{because}: {status} {type} {body}");
        Assert.False(string.IsNullOrEmpty(body.GetProperty("detail").GetString()), because);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task The_work_directory_holds_only_0700_folders_and_0600_files()
    {
        await using (var insert = fx.Db.CreateCommand("INSERT INTO app.items SELECT g, 'private ' || g FROM generate_series(1000, 1100) g"))
            await insert.ExecuteNonQueryAsync();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(Request(HttpMethod.Post, "/api/flush", RunningHostFixture.Key))).Status);

        var work = Path.Combine(fx.Root, "work");
        var folders = Directory.GetDirectories(work, "*", SearchOption.AllDirectories).Append(work).ToList();
        Assert.True(folders.Count > 1, "the host made no folders under its work directory");
        foreach (var folder in folders)
            Assert.True(File.GetUnixFileMode(folder) == (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute),
                $"{folder} is {File.GetUnixFileMode(folder)}");
        foreach (var file in Directory.GetFiles(work, "*", SearchOption.AllDirectories))
            Assert.True(File.GetUnixFileMode(file) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), $"{file} is {File.GetUnixFileMode(file)}");
    }

    [Fact]
    public async Task Reload_route_refuses_bad_requests_and_accepts_one_that_completes_with_its_file()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Request(HttpMethod.Post, "/api/tables/app.reloaded/reload"))).Status);
        var (unknown, unknownType, _) = await SendAsync(Request(HttpMethod.Post, "/api/tables/app.nope/reload", RunningHostFixture.Key));
        Assert.Equal((HttpStatusCode.NotFound, "application/problem+json"), (unknown, unknownType));
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(Request(HttpMethod.Post, "/api/tables/public.outside/reload", RunningHostFixture.Key))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(Request(HttpMethod.Post, "/api/tables/a.b.c.d/reload", RunningHostFixture.Key))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(Request(HttpMethod.Get, "/api/operations/abc", RunningHostFixture.Key))).Status);

        var (accepted, _, op) = await SendAsync(Request(HttpMethod.Post, "/api/tables/app.reloaded/reload", RunningHostFixture.Key));
        Assert.Equal(HttpStatusCode.Accepted, accepted);
        var id = op.GetProperty("id").GetInt64();
        Assert.Equal("app.reloaded", op.GetProperty("table").GetString());
        Assert.True(op.GetProperty("created").GetBoolean());

        // GET /api/operations/{id} follows it until it is completed.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement current;
        while (true)
        {
            (_, _, current) = await SendAsync(Request(HttpMethod.Get, $"/api/operations/{id}", RunningHostFixture.Key));
            if (current.GetProperty("state").GetString() is "completed" or "failed") break;
            Assert.True(DateTime.UtcNow < deadline, $"operation {id} still {current}");
            await Task.Delay(100);
        }
        Assert.Equal("completed", current.GetProperty("state").GetString());
        Assert.Equal(300, current.GetProperty("rows").GetInt64());
        var path = current.GetProperty("path").GetString()!;
        Assert.True(File.Exists(Path.Combine(fx.OutputFolder, path)), $"{path} is not in {fx.OutputFolder}");
        await using var rows = fx.Db.CreateCommand("SELECT rows FROM cdc_registry.file_log WHERE path = $1 AND file_type = 'full_reload'");
        rows.Parameters.Add(new() { Value = path });
        Assert.Equal(300L, await rows.ExecuteScalarAsync());
    }
}
