using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using PgEgress.Core.Metrics;
using PgEgress.Functions.Tests.App;

namespace PgEgress.Functions.Tests.Telemetry;

/// <summary>
/// The Functions app's composition sends the PgEgress meter to Application Insights when
/// APPLICATIONINSIGHTS_CONNECTION_STRING is set: here its ingestion endpoint is a loopback listener that keeps what
/// the Azure Monitor exporter posts.
/// </summary>
public sealed class AzureMonitorExportTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgegress-fn-otel-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private Dictionary<string, string?> Settings(string? connectionString) => new()
    {
        ["PgEgress__Source__ConnectionString"] = "Host=127.0.0.1;Port=1;Database=unused",
        ["PgEgress__Storage__Kind"] = "FileSystem",
        ["PgEgress__Storage__Path"] = Path.Combine(_root, "out"),
        ["PgEgress__WorkDirectory"] = Path.Combine(_root, "work"),
        ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connectionString,
    };

    [Fact]
    public async Task With_a_connection_string_the_engine_metrics_reach_the_ingestion_endpoint()
    {
        using var listener = new HttpListener();
        var port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var bodies = new ConcurrentQueue<string>();
        var serving = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                Stream body = context.Request.InputStream;
                if (context.Request.Headers["Content-Encoding"] == "gzip") body = new GZipStream(body, CompressionMode.Decompress);
                using (var reader = new StreamReader(body)) bodies.Enqueue(await reader.ReadToEndAsync());
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });

        await using var app = FunctionsAppHost.Build(Settings(
            $"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:{port}/"));
        var provider = app.Services.GetRequiredService<MeterProvider>();
        app.Services.GetRequiredService<PgEgressMeter>().Error("ingest", "transient");
        Assert.True(provider.ForceFlush(30_000), "the metrics were not exported");

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!bodies.Any(b => b.Contains("pgegress.errors", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no pgegress.errors in what was posted: {string.Join("\n", bodies)}");
            await Task.Delay(100);
        }
        listener.Stop();
        await serving;
    }

    [Fact]
    public async Task Without_a_connection_string_the_app_composes_without_an_exporter()
    {
        await using var app = FunctionsAppHost.Build(Settings(null));
        Assert.NotNull(app.Services.GetRequiredService<MeterProvider>());
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
