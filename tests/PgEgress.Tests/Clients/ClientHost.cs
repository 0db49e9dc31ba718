using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Npgsql;
using PgEgress.Tests.HostProcess;

namespace PgEgress.Tests.Clients;

/// <summary>
/// A real Host process over a database of its own (schema "app" published, 1 s slices), with what a client and an
/// operator do over HTTP on loopback: register, read the feed, acknowledge, flush. Restartable on the same registry.
/// </summary>
public sealed class ClientHost : IAsyncDisposable
{
    public const string Key = "client-test-key-7Hq2x";

    private readonly Dictionary<string, string?> _settings;
    private HostProcess.HostProcess? _host;

    private ClientHost(NpgsqlDataSource db, string root, Dictionary<string, string?> settings) => (Db, Root, _settings) = (db, root, settings);

    public NpgsqlDataSource Db { get; }
    public string Root { get; }
    public HttpClient Http { get; private set; } = null!;
    public string Slot => _settings["PgEgress__Source__Slot"]!;

    /// <param name="schema">SQL run before the Host starts (the tables of schema "app").</param>
    public static async Task<ClientHost> StartAsync(PostgresFixture pg, string schema, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var cs = await pg.CreateUniqueDatabaseAsync("clients");
        var db = NpgsqlDataSource.Create(cs);
        await using (var cmd = db.CreateCommand("CREATE SCHEMA app; " + schema)) await cmd.ExecuteNonQueryAsync();
        var root = Directory.CreateTempSubdirectory("pgegress-clients-").FullName;
        var settings = HostSettings.For(cs, root, apiKey: Key);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) settings[k] = v;
        var host = new ClientHost(db, root, settings);
        await host.StartHostAsync();
        return host;
    }

    private async Task StartHostAsync()
    {
        _host = HostProcess.HostProcess.Start(_settings);
        Http?.Dispose();
        Http = new HttpClient { BaseAddress = new Uri(await _host.WaitListeningAsync(TimeSpan.FromSeconds(60))), Timeout = TimeSpan.FromSeconds(90) };
    }

    /// <summary>SIGKILL, then a new Host on the same database, slot and store.</summary>
    public async Task RestartAsync()
    {
        await _host!.KillAsync();
        await _host.DisposeAsync();
        await StartHostAsync();
    }

    public async Task ExecAsync(string sql)
    {
        await using var cmd = Db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var cmd = Db.CreateCommand(sql);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public HttpRequestMessage Operator(HttpMethod method, string path, string? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("x-functions-key", Key);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return request;
    }

    public static HttpRequestMessage AsClient(HttpMethod method, string path, string? secret, string? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (secret is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return request;
    }

    public async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpRequestMessage request)
    {
        var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    /// <summary>Registers a client; returns its id and secret.</summary>
    public async Task<Client> RegisterAsync(string json)
    {
        var (status, body, _) = await SendAsync(Operator(HttpMethod.Post, "/api/clients", json));
        Assert.True(status == HttpStatusCode.Created, $"registration answered {(int)status}: {body}");
        return new Client(body.GetProperty("id").GetString()!, body.GetProperty("secret").GetString()!, body.GetProperty("cursor").GetString()!);
    }

    /// <summary>One read of the feed: status, the changes, the next offset (body and header must agree).</summary>
    public async Task<Page> ReadAsync(Client client, string? after = null, int? limit = null, int? wait = null)
    {
        var query = new List<string>();
        if (after is not null) query.Add($"after={after}");
        if (limit is not null) query.Add($"limit={limit}");
        if (wait is not null) query.Add($"wait={wait}");
        var path = $"/api/clients/{client.Id}/changes" + (query.Count > 0 ? "?" + string.Join("&", query) : "");
        using var response = await Http.SendAsync(AsClient(HttpMethod.Get, path, client.Secret));
        var text = await response.Content.ReadAsStringAsync();
        var header = response.Headers.TryGetValues("PgEgress-Next-Offset", out var values) ? values.Single() : null;
        if (response.StatusCode == HttpStatusCode.NoContent) return new Page(204, [], header!, text);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"changes answered {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(header, body.GetProperty("next").GetString());
        return new Page(200, [.. body.GetProperty("changes").EnumerateArray().Select(e => e.Clone())], header!, text);
    }

    /// <summary>Long-polls from <paramref name="after"/> until <paramref name="count"/> changes have arrived (30 s at most).</summary>
    public async Task<List<JsonElement>> ReadUntilAsync(Client client, string after, int count)
    {
        var got = new List<JsonElement>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (got.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {got.Count} of {count} changes arrived");
            var page = await ReadAsync(client, after, wait: 2);
            got.AddRange(page.Changes);
            after = page.Next;
        }
        return got;
    }

    public async Task AckAsync(Client client, string offset)
    {
        var (status, body, _) = await SendAsync(AsClient(HttpMethod.Post, $"/api/clients/{client.Id}/ack", client.Secret, $$"""{"offset":"{{offset}}"}"""));
        Assert.True(status == HttpStatusCode.OK, $"ack answered {(int)status}: {body}");
    }

    public async Task FlushAsync()
    {
        var (status, body, _) = await SendAsync(Operator(HttpMethod.Post, "/api/flush"));
        Assert.True(status == HttpStatusCode.OK, $"flush answered {(int)status}: {body}");
    }

    public async Task<JsonElement> StatusOfAsync(Client client)
    {
        var (status, body, _) = await SendAsync(Operator(HttpMethod.Get, $"/api/clients/{client.Id}"));
        Assert.Equal(HttpStatusCode.OK, status);
        return body;
    }

    public async ValueTask DisposeAsync()
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
        Http?.Dispose();
        await Db.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}

public sealed record Client(string Id, string Secret, string Cursor);

public sealed record Page(int Status, IReadOnlyList<JsonElement> Changes, string Next, string Raw);
