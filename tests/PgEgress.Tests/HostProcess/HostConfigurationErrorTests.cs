using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit.Sdk;

namespace PgEgress.Tests.HostProcess;

/// <summary>
/// A user who starts the host with a mistake in its settings gets one line on stderr naming the setting, and exit
/// code 2, before anything touches the source. These need no PostgreSQL: the source is a closed loopback port, so
/// a host that reached for the source before validating would answer "cannot reach" (exit 1) instead.
/// </summary>
public sealed class HostConfigurationErrorTests
{
    private const string Secret = "Pw-9f3kQz7-never-echo";

    private static Dictionary<string, string?> ClosedPortSettings() =>
        HostSettings.For($"Host=127.0.0.1;Port={HostSettings.ClosedLoopbackPort()};Database=app;Username=egress;Password={Secret}",
            Path.Combine(Path.GetTempPath(), "pgegress-hostcfg-" + Guid.NewGuid().ToString("N")));

    public static TheoryData<string, string, string?, string[]> BadSettings => new()
    {
        { "unknown storage kind", "PgEgress__Storage__Kind", "Ftp", ["PgEgress:Storage:Kind", "Ftp"] },
        { "interval that is not a TimeSpan", "PgEgress__Batch__Interval", "banana", ["PgEgress:Batch:Interval", "banana"] },
        { "interval of zero", "PgEgress__Batch__Interval", "00:00:00", ["PgEgress:Batch:Interval", "between"] },
        { "slot name with capitals and punctuation", "PgEgress__Source__Slot", "Bad-Name!", ["PgEgress:Source:Slot", "'Bad-Name!'", "lower-case"] },
        { "missing connection string", "PgEgress__Source__ConnectionString", null, ["PgEgress:Source:ConnectionString", "required"] },
        { "connection string without a host", "PgEgress__Source__ConnectionString", $"Database=app;Password={Secret}", ["PgEgress:Source:ConnectionString", "Host"] },
        { "connection string with a bad port", "PgEgress__Source__ConnectionString", $"Host=127.0.0.1;Port=five;Password={Secret}", ["PgEgress:Source:ConnectionString", "port"] },
        { "non-positive slice duration", "PgEgress__Slice__MaxDuration", "-00:00:01", ["PgEgress:Slice:MaxDuration"] },
        { "tables and schemas both set", "PgEgress__Source__Tables__0", "app.items", ["PgEgress:Source:Tables", "PgEgress:Source:Schemas"] },
        { "publication name with a double quote", "PgEgress__Source__Publication", "pub\"x", ["PgEgress:Source:Publication", "double quotes"] },
        { "publication name with a single quote", "PgEgress__Source__Publication", "pub'x", ["PgEgress:Source:Publication", "single quotes"] },
        { "publication name of 32 characters that is 64 bytes", "PgEgress__Source__Publication", new string('\u00e9', 32), ["PgEgress:Source:Publication", "63 bytes"] },
        { "slice longer than the batch interval", "PgEgress__Slice__MaxDuration", "2.00:00:00", ["PgEgress:Slice:MaxDuration", "PgEgress:Batch:Interval"] },
        { "API key of 15 characters", "PgEgress__Api__Key", "fifteen-chars-k", ["PgEgress:Api:Key", "16 characters"] },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_is_one_line_naming_it_and_exit_code_2(string because, string variable, string? value, string[] expected)
    {
        var settings = ClosedPortSettings();
        settings[variable] = value;

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", because, expected);
        failure.AssertNotEchoed(Secret);
    }

    [Fact]
    public async Task AzureBlob_without_a_connection_string_or_account_url_is_a_configuration_error_not_a_source_error()
    {
        var settings = ClosedPortSettings();
        settings["PgEgress__Storage__Kind"] = "AzureBlob";
        settings["PgEgress__Storage__Path"] = null;

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "AzureBlob without credentials",
            ["Kind=AzureBlob", "PgEgress:Storage:ConnectionString", "PgEgress:Storage:AccountUrl"]);
        failure.AssertNotEchoed(Secret);
    }

    [Fact]
    public async Task AzureBlob_with_a_plain_http_account_url_is_a_configuration_error()
    {
        var settings = ClosedPortSettings();
        settings["PgEgress__Storage__Kind"] = "AzureBlob";
        settings["PgEgress__Storage__AccountUrl"] = "http://account.blob.core.windows.net/?sig=SasSecret123";

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "http account url", ["PgEgress:Storage:AccountUrl", "https"]);
        failure.AssertNotEchoed("SasSecret123");
    }

    [Fact]
    public async Task A_password_with_an_unquoted_semicolon_is_not_echoed_in_part()
    {
        // "Password=Xk9;Zq7Tail=Lm" parses as Password=Xk9 plus an unknown keyword "zq7tail": the keyword is a piece of the password.
        var settings = ClosedPortSettings();
        settings["PgEgress__Source__ConnectionString"] = "Host=127.0.0.1;Port=1;Password=Xk9;Zq7Tail=Lm";

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(20));

        failure.AssertOneLine(2, "configuration error", "password with ';'", ["PgEgress:Source:ConnectionString"]);
        failure.AssertNotEchoed("Zq7Tail");
        failure.AssertNotEchoed("Xk9");
    }

    [Fact]
    public async Task An_unreachable_blob_store_is_one_line_naming_it_before_the_source_is_tried()
    {
        const string accountKey = "c2VjcmV0LWFjY291bnQta2V5LW5vdC10by1sZWFr";
        var settings = ClosedPortSettings();
        settings["PgEgress__Storage__Kind"] = "AzureBlob";
        settings["PgEgress__Storage__Container"] = "egress";
        settings["PgEgress__Storage__ConnectionString"] =
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={accountKey};BlobEndpoint=http://127.0.0.1:{HostSettings.ClosedLoopbackPort()}/devstoreaccount1";

        // The store's own retries (about 8 s of backoff) run first; then it gives up for good.
        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(45));

        failure.AssertOneLine(1, "startup error", "blob endpoint at a closed port", ["store", "devstoreaccount1/egress", "not usable"]);
        failure.AssertNotEchoed(accountKey);
        failure.AssertNotEchoed(Secret);
    }

    [Fact]
    public async Task An_unreachable_source_is_one_line_naming_host_and_port_and_exit_code_1_within_seconds()
    {
        var port = HostSettings.ClosedLoopbackPort();
        var settings = ClosedPortSettings();
        settings["PgEgress__Source__ConnectionString"] = $"Host=127.0.0.1;Port={port};Database=app;Username=egress;Password={Secret}";

        var failure = await HostFailure.RunAsync(settings, TimeSpan.FromSeconds(15));

        failure.AssertOneLine(1, "startup error", "closed port", ["cannot reach the source database", $"127.0.0.1:{port}/app"]);
        failure.AssertNotEchoed(Secret);
    }
}

/// <summary>Settings for a host under test, as environment variables.</summary>
internal static class HostSettings
{
    /// <summary>A good configuration: schema "app" published, folder store under <paramref name="root"/>, 1 s slices, daily batches (no scheduled flush during a test), no initial load.</summary>
    public static Dictionary<string, string?> For(string connectionString, string root, string? slot = null, string? apiKey = null) => new()
    {
        ["PgEgress__Source__ConnectionString"] = connectionString,
        ["PgEgress__Source__Publication"] = "pgegress",
        ["PgEgress__Source__Slot"] = slot ?? UniqueSlot(),
        ["PgEgress__Source__Schemas__0"] = "app",
        ["PgEgress__Storage__Kind"] = "FileSystem",
        ["PgEgress__Storage__Path"] = Path.Combine(root, "out"),
        ["PgEgress__WorkDirectory"] = Path.Combine(root, "work"),
        ["PgEgress__Slice__MaxDuration"] = "00:00:01",
        ["PgEgress__Batch__Interval"] = "1.00:00:00",
        // These tests create their tables empty before the slot: an initial load would only hold their first changes
        // back until its (empty) export registers. tests/PgEgress.Tests/Reload covers it.
        ["PgEgress__Reload__InitialLoad"] = "false",
        ["PgEgress__Api__Key"] = apiKey,
    };

    public static string UniqueSlot() => "hostproc_" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>A loopback port nobody listens on (taken and released, so the kernel refuses connections to it).</summary>
    public static int ClosedLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A host run that is expected to fail at startup: its exit code, stderr and stdout once it has exited.</summary>
internal sealed record HostFailure(int ExitCode, string[] ErrorLines, string[] OutputLines, TimeSpan Elapsed)
{
    public static async Task<HostFailure> RunAsync(IReadOnlyDictionary<string, string?> settings, TimeSpan timeout)
    {
        await using var host = HostProcess.Start(settings);
        var clock = Stopwatch.StartNew();
        int code;
        try
        {
            code = await host.WaitExitAsync(timeout);
        }
        catch (OperationCanceledException)
        {
            throw new XunitException($"the host did not exit within {timeout}; stderr: {host.StandardError}; stdout: {string.Join("\n", host.StandardOutput.TakeLast(10))}");
        }
        var errors = host.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return new HostFailure(code, errors, host.StandardOutput.ToArray(), clock.Elapsed);
    }

    public void AssertOneLine(int exitCode, string kind, string because, string[] fragments)
    {
        var context = $"{because}: exit {ExitCode}, stderr:\n{string.Join("\n", ErrorLines)}";
        Assert.True(ErrorLines.Length == 1, $"expected exactly one stderr line; {context}");
        var line = ErrorLines[0];
        Assert.True(line.StartsWith($"pgegress: {kind}: ", StringComparison.Ordinal), $"expected 'pgegress: {kind}: …'; {context}");
        foreach (var fragment in fragments)
            Assert.True(line.Contains(fragment, StringComparison.Ordinal), $"expected '{fragment}' in the message; {context}");
        Assert.True(ExitCode == exitCode, $"expected exit code {exitCode}; {context}");
    }

    public void AssertNotEchoed(string secret)
    {
        foreach (var line in ErrorLines.Concat(OutputLines))
            Assert.False(line.Contains(secret, StringComparison.OrdinalIgnoreCase), $"'{secret}' was echoed: {line}");
    }
}
