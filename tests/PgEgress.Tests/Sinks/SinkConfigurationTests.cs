using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using PgEgress.Core.Configuration;
using Npgsql;
using PgEgress.Tests.Fixtures;
using PgEgress.Tests.HostProcess;

namespace PgEgress.Tests.Sinks;

/// <summary>
/// A mistake in a sink's settings stops the start with an error that names the sink and the setting
/// (PgEgress:Sinks:{name}:{Setting}), whether the settings come as options, through configuration binding, or as the
/// environment of a real host process (exit code 2, one stderr line).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SinkConfigurationTests(PostgresFixture pg)
{
    private const string Source = "Host=127.0.0.1;Port=5432;Database=app;Username=egress";
    private const string AppId = "0b9f3a52-6a1e-4c1d-9d5e-2f7b8c4e1a90";

    private static PgEgressOptions With(string name, SinkOptions sink)
    {
        var options = new PgEgressOptions { Source = { ConnectionString = Source } };
        options.Sinks[name] = sink;
        return options;
    }

    private static SinkOptions Http(Action<SinkOptions>? change = null) => Change(new SinkOptions { Kind = SinkKind.Http, Url = "https://hooks.example.com/pgegress" }, change);

    private static SinkOptions Hook0(Action<SinkOptions>? change = null) =>
        Change(new SinkOptions { Kind = SinkKind.Hook0, Url = "https://app.hook0.com", Token = "En0KE2NoZWNrIGlmIHRlc3QYAyIKCggI", ApplicationId = AppId }, change);

    private static SinkOptions Postgres(Action<SinkOptions>? change = null) =>
        Change(new SinkOptions { Kind = SinkKind.Postgres, ConnectionString = "Host=mirror.example.com;Database=mirror;Username=writer" }, change);

    private static SinkOptions ClickHouse(Action<SinkOptions>? change = null) =>
        Change(new SinkOptions { Kind = SinkKind.ClickHouse, Url = "http://clickhouse.example.com:8123", Database = "mirror" }, change);

    private static SinkOptions Change(SinkOptions sink, Action<SinkOptions>? change)
    {
        change?.Invoke(sink);
        return sink;
    }

    private static string WebhookSecret(int bytes) => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes));

    /// <summary>One broken setting per case: the sink's name, its settings, and what the error must say besides the sink's path.</summary>
    private static readonly Dictionary<string, (string Name, SinkOptions Sink, string[] Expected)> Cases = new()
    {
        ["missing Kind"] = ("hooks", new SinkOptions { Url = "https://hooks.example.com" }, [":Kind", "required", "Http, Hook0, Postgres or ClickHouse"]),
        ["Kind a number that is no kind (the binder takes \"7\")"] = ("hooks", Http(s => s.Kind = (SinkKind)7), [":Kind", "'7'", "Http, Hook0, Postgres or ClickHouse"]),
        ["relative Url"] = ("hooks", Http(s => s.Url = "/events"), [":Url", "absolute http or https"]),
        ["ftp Url"] = ("hooks", Http(s => s.Url = "ftp://files.example.com/in"), [":Url", "http or https", "ftp"]),
        ["empty Url"] = ("hooks", Http(s => s.Url = ""), [":Url", "required"]),
        ["Url that is no URL"] = ("hooks", Http(s => s.Url = "not a url"), [":Url", "absolute http or https"]),
        ["Method DELETE"] = ("hooks", Http(s => s.Method = "DELETE"), [":Method", "POST or PUT", "'DELETE'"]),
        ["Workers 0"] = ("hooks", Http(s => s.Workers = 0), [":Workers", "between 1 and 64", "(got 0)"]),
        ["Workers 65"] = ("hooks", Http(s => s.Workers = 65), [":Workers", "between 1 and 64", "(got 65)"]),
        ["Operations has upsert"] = ("hooks", Http(s => s.Operations = ["insert", "upsert"]), [":Operations", "'upsert'", "insert, update, delete or truncate"]),
        ["Tables without a schema"] = ("hooks", Http(s => s.Tables = ["nodot"]), [":Tables", "'nodot'", "schema.table"]),
        ["Tables with an empty table name"] = ("hooks", Http(s => s.Tables = ["app."]), [":Tables", "'app.'", "schema.table"]),
        ["Tables with three parts"] = ("hooks", Http(s => s.Tables = ["db.app.items"]), [":Tables", "'db.app.items'"]),
        ["Secret without whsec_"] = ("hooks", Http(s => s.Secret = Convert.ToBase64String(new byte[32])), [":Secret", "whsec_"]),
        ["Secret not base64"] = ("hooks", Http(s => s.Secret = "whsec_not*base64*at*all"), [":Secret", "base64"]),
        ["Secret too short"] = ("hooks", Http(s => s.Secret = WebhookSecret(16)), [":Secret", "24 to 64"]),
        ["AuthHeaderName with a space"] = ("hooks", Http(s => (s.AuthHeaderName, s.AuthHeaderValue) = ("X Api Key", "k")), [":AuthHeaderName", "'X Api Key'", "not a valid HTTP header name"]),
        ["AuthHeaderName ending in a line break"] = ("hooks", Http(s => (s.AuthHeaderName, s.AuthHeaderValue) = ("X-Api-Key\n", "k")), [":AuthHeaderName", "not a valid HTTP header name"]),
        ["AuthHeaderName the sink sets itself"] = ("hooks", Http(s => (s.AuthHeaderName, s.AuthHeaderValue) = ("Content-Type", "text/plain")), [":AuthHeaderName", "sets itself"]),
        ["AuthHeaderName without a value"] = ("hooks", Http(s => s.AuthHeaderName = "X-Api-Key"), [":AuthHeaderValue", "required", "AuthHeaderName"]),
        ["AuthHeaderValue without a name"] = ("hooks", Http(s => s.AuthHeaderValue = "Bearer abc"), [":AuthHeaderName", "required", "AuthHeaderValue"]),
        ["AuthHeaderValue with a line break"] = ("hooks", Http(s => (s.AuthHeaderName, s.AuthHeaderValue) = ("Authorization", "Bearer abc\r\nX-Evil: 1")), [":AuthHeaderValue", "printable ASCII"]),
        ["AuthHeaderValue not ASCII"] = ("hooks", Http(s => (s.AuthHeaderName, s.AuthHeaderValue) = ("Authorization", "Bearer clé")), [":AuthHeaderValue", "printable ASCII"]),
        ["BatchMaxEvents 0"] = ("hooks", Http(s => s.BatchMaxEvents = 0), [":BatchMaxEvents", "between 1 and 1000", "(got 0)"]),
        ["Timeout 0"] = ("hooks", Http(s => s.Timeout = TimeSpan.Zero), [":Timeout"]),
        ["MaxRetries 0"] = ("hooks", Http(s => s.MaxRetries = 0), [":MaxRetries", "at least 1"]),
        ["Retries negative"] = ("hooks", Http(s => s.Retries = -1), [":Retries", "0 or more", "(got -1)"]),
        ["MaxRequestsPerSecond negative"] = ("hooks", Http(s => s.MaxRequestsPerSecond = -5), [":MaxRequestsPerSecond", "positive", "(got -5)"]),
        ["MaxRequestsPerSecond zero"] = ("hooks", Http(s => s.MaxRequestsPerSecond = 0), [":MaxRequestsPerSecond", "positive"]),
        ["MaxRequestsPerSecond on a Postgres sink"] = ("mirror", Postgres(s => s.MaxRequestsPerSecond = 10), [":MaxRequestsPerSecond", "Http and Hook0"]),
        ["Format and EventFormat disagreeing"] = ("hooks", Http(s => (s.Format, s.EventFormat) = (SinkFormat.Json, SinkFormat.Xml)), [":Format", "EventFormat", "disagree"]),
        ["Format on a Hook0 sink"] = ("events", Hook0(s => s.Format = SinkFormat.Xml), [":Format", "Http settings"]),
        ["RetryDelay above MaxRetryDelay"] = ("hooks", Http(s => s.RetryDelay = TimeSpan.FromMinutes(5)), [":RetryDelay", "MaxRetryDelay"]),
        ["Hook0 without Token"] = ("events", Hook0(s => s.Token = ""), [":Token", "required"]),
        ["Hook0 Token with a trailing line break"] = ("events", Hook0(s => s.Token += "\n"), [":Token", "line breaks"]),
        ["Hook0 Token with the Bearer prefix"] = ("events", Hook0(s => s.Token = "Bearer " + s.Token), [":Token", "no spaces"]),
        ["Hook0 ApplicationId not a UUID"] = ("events", Hook0(s => s.ApplicationId = "my-application"), [":ApplicationId", "UUID", "'my-application'"]),
        ["Hook0 ApplicationId in braces"] = ("events", Hook0(s => s.ApplicationId = "{" + AppId + "}"), [":ApplicationId", "xxxxxxxx-xxxx"]),
        ["Hook0 ApplicationId with blanks around"] = ("events", Hook0(s => s.ApplicationId = " " + AppId), [":ApplicationId", "UUID"]),
        ["Hook0 without Url"] = ("events", Hook0(s => s.Url = ""), [":Url", "required"]),
        ["Hook0 Url with /api/v1"] = ("events", Hook0(s => s.Url = "https://app.hook0.com/api/v1/"), [":Url", "base URL", "/api/v1"]),
        ["Hook0 Url with /api/v1/event"] = ("events", Hook0(s => s.Url = "https://hook0.internal/api/v1/event"), [":Url", "/api/v1/event"]),
        ["Postgres without ConnectionString"] = ("mirror", Postgres(s => s.ConnectionString = ""), [":ConnectionString", "required"]),
        ["Postgres ConnectionString that does not parse"] = ("mirror", Postgres(s => s.ConnectionString = "Host=mirror;Port=five"), [":ConnectionString", "not a valid"]),
        ["Postgres ConnectionString without Host"] = ("mirror", Postgres(s => s.ConnectionString = "Database=mirror"), [":ConnectionString", "Host"]),
        ["ClickHouse without Url"] = ("olap", ClickHouse(s => s.Url = ""), [":Url", "required"]),
        ["ClickHouse Url that is no URL"] = ("olap", ClickHouse(s => s.Url = "clickhouse:8123"), [":Url", "http"]),
        ["ClickHouse Url with a user and password"] = ("olap", ClickHouse(s => s.Url = "http://me:pw@clickhouse.example.com:8123"), [":Url", "credentials", "User and Password"]),
        ["ClickHouse without Database"] = ("olap", ClickHouse(s => s.Database = ""), [":Database", "required"]),
        ["ClickHouse Database with a dot"] = ("olap", ClickHouse(s => s.Database = "a.b"), [":Database", "'a.b'", "letters, digits and '_'"]),
        ["ClickHouse without User"] = ("olap", ClickHouse(s => s.User = ""), [":User", "required"]),
        ["ClickHouse Password with a line break"] = ("olap", ClickHouse(s => s.Password = "pw\n"), [":Password", "printable ASCII"]),
        ["ClickHouse BatchMaxRows 0"] = ("olap", ClickHouse(s => s.BatchMaxRows = 0), [":BatchMaxRows", "between 1 and 1000000", "(got 0)"]),
        ["ClickHouse BatchMaxBytes 10"] = ("olap", ClickHouse(s => s.BatchMaxBytes = 10), [":BatchMaxBytes", "(got 10)"]),
        ["ClickHouse negative BatchMaxWait"] = ("olap", ClickHouse(s => s.BatchMaxWait = TimeSpan.FromSeconds(-1)), [":BatchMaxWait", "negative"]),
        ["MaxRequestsPerSecond on a ClickHouse sink"] = ("olap", ClickHouse(s => s.MaxRequestsPerSecond = 10), [":MaxRequestsPerSecond", "Http and Hook0"]),
        ["Url with a user and password"] = ("hooks", Http(s => s.Url = "https://pgegress:Pa55word@hooks.example.com/in"), [":Url", "credentials", "never sent", "AuthHeaderName"]),
        ["Url with a user alone"] = ("hooks", Http(s => s.Url = "https://pgegress@hooks.example.com/in"), [":Url", "credentials"]),
        ["Hook0 Url with a user and password"] = ("events", Hook0(s => s.Url = "https://me:Pa55word@app.hook0.com"), [":Url", "credentials", "Token"]),
        ["a sink name with '/'"] = ("team/hooks", Http(), ["sink name", "letters, digits, '_' or '-'"]),
        ["a sink name of 64 characters"] = (new string('s', 64), Http(), ["sink name", "1 to 63"]),
        // A disabled sink is validated all the same: a mistake shows when it is written, not on the day the sink is turned on.
        ["a disabled sink with a bad Url"] = ("paused", Http(s => (s.Enabled, s.Url) = (false, "ftp://files.example.com")), [":Url", "http or https"]),
        ["a disabled sink without Kind"] = ("paused", new SinkOptions { Enabled = false }, [":Kind", "required"]),
    };

    public static TheoryData<string> CaseNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var name in Cases.Keys) data.Add(name);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void A_bad_sink_setting_is_an_error_naming_the_sink_and_the_setting(string because)
    {
        var (name, sink, expected) = Cases[because];
        var errors = OptionsValidator.Validate(With(name, sink));

        var error = Assert.Single(errors, e => e.Contains($"PgEgress:Sinks:{name}", StringComparison.Ordinal));
        Assert.Single(errors); // nothing else is wrong with the configuration
        foreach (var fragment in expected)
            Assert.True(error.Contains(fragment, StringComparison.Ordinal), $"{because}: expected '{fragment}' in: {error}");
        // A path followed by the setting: "PgEgress:Sinks:hooks:Url …", one line.
        if (expected[0].StartsWith(':')) Assert.StartsWith($"PgEgress:Sinks:{name}{expected[0]}", error);
        Assert.DoesNotContain('\n', error);
    }

    [Fact]
    public void Good_sinks_of_every_kind_pass_and_each_error_names_only_its_own_sink()
    {
        var options = new PgEgressOptions { Source = { ConnectionString = Source } };
        options.Sinks["hooks"] = Http(s => (s.Secret, s.AuthHeaderName, s.AuthHeaderValue, s.Tables, s.Operations) =
            (WebhookSecret(32), "X-Api-Key", "k-123", ["app.items"], ["insert", " Update "]));
        options.Sinks["events"] = Hook0();
        options.Sinks["mirror"] = Postgres();
        options.Sinks["olap"] = ClickHouse(s => (s.User, s.Password, s.CreateTables) = ("writer", "pw", true));
        options.Sinks["self-hosted-hook0"] = Hook0(s => s.Url = "https://tools.example.com/hook0/");
        Assert.Empty(OptionsValidator.Validate(options));

        options.Sinks["broken"] = Http(s => (s.Url, s.Workers) = ("", 0));
        var errors = OptionsValidator.Validate(options);
        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.StartsWith("PgEgress:Sinks:broken:", e));
    }

    /// <summary>The Host listening on every interface at 8080 (its --urls / ASPNETCORE_URLS), and what a sink there may not be aimed at.</summary>
    [Theory]
    [InlineData("urls", "http://0.0.0.0:8080", "http://localhost:8080/api/flush", true)]
    [InlineData("urls", "http://0.0.0.0:8080", "http://127.0.0.1:8080/API/status?code=k", true)]
    [InlineData("urls", "http://+:8080;https://+:8443", "https://[::1]:8443/api/tables/app.items/reload", true)]
    [InlineData("urls", "http://*:8080", "http://{machine}:8080/api/flush", true)]
    [InlineData("urls", "http://127.0.0.1:8080", "http://localhost:8080/api/flush", true)]
    [InlineData("http_ports", "8080", "http://localhost:8080/api/flush", true)]
    [InlineData("Kestrel:Endpoints:api:Url", "http://0.0.0.0:9000", "http://localhost:9000/api/status", true)]
    [InlineData(null, null, "http://localhost:5000/api/status", true)]
    [InlineData("urls", "http://0.0.0.0:8080", "http://localhost:8081/api/flush", false)]
    [InlineData("urls", "http://0.0.0.0:8080", "http://localhost:8080/hooks/in", false)]
    [InlineData("urls", "http://0.0.0.0:8080", "http://hooks.example.com:8080/api/in", false)]
    [InlineData("urls", "http://127.0.0.1:8080", "http://{machine}:8080/api/flush", false)]
    [InlineData("urls", "http://127.0.0.1:0", "http://127.0.0.1:0/api/flush", false)]
    public void A_sink_aimed_at_PgEgresss_own_API_is_refused(string? key, string? listen, string url, bool refused)
    {
        var own = ListenAddresses.From(new ConfigurationBuilder()
            .AddInMemoryCollection(key is null ? [] : new Dictionary<string, string?> { [key] = listen }).Build());
        var options = With("hooks", Http(s => s.Url = url.Replace("{machine}", Environment.MachineName)));

        var errors = OptionsValidator.Validate(options, own);

        if (!refused)
        {
            Assert.Empty(errors);
            return;
        }
        var error = Assert.Single(errors);
        Assert.StartsWith("PgEgress:Sinks:hooks:Url points at this PgEgress's own API", error);
        Assert.DoesNotContain("code=k", error);
    }

    [Fact]
    public void A_Hook0_sink_whose_base_URL_is_PgEgress_itself_is_refused()
    {
        var own = ListenAddresses.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = "http://0.0.0.0:8080" }).Build());

        var errors = OptionsValidator.Validate(With("events", Hook0(s => s.Url = "http://localhost:8080")), own);

        Assert.StartsWith("PgEgress:Sinks:events:Url points at this PgEgress's own API", Assert.Single(errors));
        Assert.Empty(OptionsValidator.Validate(With("events", Hook0(s => s.Url = "http://localhost:8081")), own));
    }

    [Fact]
    public void Errors_do_not_echo_secrets_a_setting_carries()
    {
        var options = new PgEgressOptions { Source = { ConnectionString = Source } };
        options.Sinks["a"] = Http(s => s.Url = "ftp://user:Hunter2Url@files.example.com/in?sig=SigSecret1");
        options.Sinks["b"] = Http(s => s.Secret = "whsec_TooShortSecret9");
        options.Sinks["c"] = Hook0(s => s.Token = "Bearer Biscuit0Token");
        options.Sinks["d"] = Postgres(s => s.ConnectionString = "Database=app;Password=PgPass77");
        options.Sinks["e"] = Http(s => (s.AuthHeaderName, s.AuthHeaderValue) = ("Authorization", "Bearer Api\u00e9Key5"));
        options.Sinks["f"] = Http(s => s.Url = "https://user:Hunter3Url@hooks.example.com/in?sig=SigSecret2");

        var errors = OptionsValidator.Validate(options);

        Assert.Equal(6, errors.Count);
        foreach (var secret in new[] { "Hunter2Url", "SigSecret1", "TooShortSecret9", "Biscuit0Token", "PgPass77", "Key5", "Hunter3Url", "SigSecret2" })
            Assert.DoesNotContain(errors, e => e.Contains(secret, StringComparison.Ordinal));
    }

    /// <summary>
    /// The settings as the Host and the Functions app read them. Binding a value that does not convert (Kind=Kafka,
    /// Enabled=yes, Workers=four) should fail and name the setting; the default configuration binder instead drops the
    /// whole sink from PgEgressOptions.Sinks without a word, which OptionsBinding.Bind does not allow.
    /// </summary>
    [Theory]
    [InlineData("Kind", "Kafka")]
    [InlineData("Enabled", "yes")]
    [InlineData("Workers", "four")]
    [InlineData("Format", "Yaml")]
    [InlineData("EventFormat", "Protobuf")]
    [InlineData("Timeout", "ten seconds")]
    public void A_sink_value_that_does_not_bind_is_an_error_naming_it(string setting, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PgEgress:Source:ConnectionString"] = Source,
            ["PgEgress:Sinks:hooks:Kind"] = "Http",
            ["PgEgress:Sinks:hooks:Url"] = "https://hooks.example.com/pgegress",
            [$"PgEgress:Sinks:hooks:{setting}"] = value,
        }).Build();

        var error = Assert.Throws<InvalidOperationException>(() => OptionsBinding.Bind(configuration));

        Assert.Contains($"PgEgress:Sinks:hooks:{setting}", error.Message + " " + error.InnerException?.Message);
    }

    [Theory]
    [InlineData("Kind", "hook0", SinkKind.Hook0)]
    [InlineData("Kind", "POSTGRES", SinkKind.Postgres)]
    public void Kind_binds_whatever_its_case(string setting, string value, SinkKind kind)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"PgEgress:Sinks:hooks:{setting}"] = value,
        }).Build();

        var options = OptionsBinding.Bind(configuration);

        Assert.Equal(kind, options.Sinks["hooks"].Kind);
    }

    /// <summary>The seeds' settings list: Timeout in seconds, Retries, EventFormat; a TimeSpan Timeout still reads as one.</summary>
    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("2.5", 2_500)]
    [InlineData("00:00:07", 7_000)]
    public void A_sink_Timeout_reads_a_bare_number_as_seconds(string value, int milliseconds)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PgEgress:Source:ConnectionString"] = Source,
            ["PgEgress:Sinks:hooks:Kind"] = "Http",
            ["PgEgress:Sinks:hooks:Url"] = "https://hooks.example.com/pgegress",
            ["PgEgress:Sinks:hooks:Timeout"] = value,
            ["PgEgress:Sinks:hooks:Retries"] = "5",
            ["PgEgress:Sinks:hooks:EventFormat"] = "xml",
        }).Build();

        var sink = OptionsBinding.Bind(configuration).Sinks["hooks"];

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), sink.Timeout);
        Assert.Equal(5, sink.Retries);
        Assert.Equal(SinkFormat.Xml, sink.EffectiveFormat);
        var errors = new List<string>();
        SinkValidator.Validate("hooks", sink, ListenAddresses.None, errors);
        Assert.Empty(errors);
    }

    private static Dictionary<string, string?> HostSettingsWithSink(params (string Key, string Value)[] sink)
    {
        var settings = HostSettings.For($"Host=127.0.0.1;Port={HostSettings.ClosedLoopbackPort()};Database=app;Username=egress;Password=x",
            Path.Combine(Path.GetTempPath(), "pgegress-sinkcfg-" + Guid.NewGuid().ToString("N")));
        foreach (var (key, value) in sink) settings[$"PgEgress__Sinks__hooks__{key}"] = value;
        return settings;
    }

    [Fact]
    public async Task The_host_stops_with_exit_code_2_and_one_line_naming_a_bad_sink_Url()
    {
        var settings = HostSettingsWithSink(("Kind", "Http"), ("Url", "not a url"));

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "sink Url that is no URL", ["PgEgress:Sinks:hooks:Url"]);
    }

    [Fact]
    public async Task The_host_stops_with_exit_code_2_for_a_sink_aimed_at_its_own_API()
    {
        var port = HostSettings.ClosedLoopbackPort();
        var settings = HostSettingsWithSink(("Kind", "Http"), ("Url", $"http://localhost:{port}/api/flush"));
        settings["Kestrel__Endpoints__api__Url"] = $"http://127.0.0.1:{port}";

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "sink aimed at the host's own API", ["PgEgress:Sinks:hooks:Url", "own API", $"127.0.0.1:{port}"]);
    }

    [Fact]
    public async Task The_host_stops_with_exit_code_2_for_a_sink_Url_with_credentials()
    {
        var settings = HostSettingsWithSink(("Kind", "Http"), ("Url", "https://pgegress:Pa55word@hooks.example.com/in"));

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "sink Url with credentials", ["PgEgress:Sinks:hooks:Url", "credentials", "AuthHeaderName"]);
        failure.AssertNotEchoed("Pa55word");
    }

    [Fact]
    public async Task The_host_stops_with_exit_code_2_for_a_Postgres_sink_whose_target_is_the_source_under_another_host_name_before_making_a_slot()
    {
        var source = await pg.CreateUniqueDatabaseAsync("sinkcfg_self");
        await using var db = NpgsqlDataSource.Create(source);
        await using (var cmd = db.CreateCommand("CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY)")) await cmd.ExecuteNonQueryAsync();
        var settings = HostSettings.For(source, Path.Combine(Path.GetTempPath(), "pgegress-sinkcfg-" + Guid.NewGuid().ToString("N")));
        settings["PgEgress__Sinks__mirror__Kind"] = "Postgres";
        settings["PgEgress__Sinks__mirror__ConnectionString"] = new NpgsqlConnectionStringBuilder(source) { Host = "localhost" }.ConnectionString;

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(30));

        failure.AssertOneLine(2, "configuration error", "a target that is the source", ["PgEgress:Sinks:mirror:ConnectionString", "source database itself"]);
        await using (var cmd = db.CreateCommand($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{settings["PgEgress__Source__Slot"]}'"))
            Assert.Equal(0L, await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_host_stops_with_exit_code_2_and_one_line_naming_an_unknown_sink_Kind()
    {
        var settings = HostSettingsWithSink(("Kind", "Kafka"), ("Url", "https://hooks.example.com/pgegress"));

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "unknown sink Kind", ["PgEgress:Sinks:hooks:Kind", "Kafka"]);
    }

    [Fact]
    public async Task The_host_stops_with_exit_code_2_for_a_sink_Kind_given_as_a_number_that_is_no_kind()
    {
        var settings = HostSettingsWithSink(("Kind", "7"), ("Url", "https://hooks.example.com/pgegress"));

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "sink Kind 7", ["PgEgress:Sinks:hooks:Kind", "'7'"]);
    }
}
