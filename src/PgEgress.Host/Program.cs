using System.Text.Json;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Npgsql;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;
using PgEgress.Host.Api;
using PgEgress.Host.Services;

// appsettings.json ships beside the binary; relative paths in settings still resolve against the working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
builder.Logging.AddJsonConsole(o => o.UseUtcTimestamp = true);
// ASP.NET Core's request lines carry the query string, where the API key travels as ?code=: never log them,
// whatever log level the settings ask for (provider-specific and added last, so it wins over the configuration).
builder.Logging.AddFilter<ConsoleLoggerProvider>("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);

PgEgressOptions options;
try
{
    options = OptionsBinding.Bind(builder.Configuration);
}
catch (InvalidOperationException e)
{
    return Fail("configuration error", e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}", 2);
}
var errors = OptionsValidator.Validate(options, ListenAddresses.From(builder.Configuration));
if (errors.Count > 0) return Fail("configuration error", string.Join("; ", errors), 2);

try
{
    // One long-lived process: the slot-creating connection stays open until the export has imported its snapshot.
    builder.Services.AddPgEgress(options, InitialLoadSnapshotPolicy.SlotSnapshot);
    builder.Services.AddSingleton(options.Api);
    builder.Services.AddMutatingRateLimit(options.Api);
    builder.Services.AddPgEgressMetrics();
    builder.Services.AddHostedService<IngestService>();
    builder.Services.AddHostedService<FlushService>();
    builder.Services.AddHostedService<ReloadService>();
    builder.Services.AddHostedService<VerificationService>();
    builder.Services.AddHostedService<SinkService>();
    builder.Services.AddHostedService<LagSamplingService>();
    builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

    var app = builder.Build();
    app.Services.GetRequiredService<ShutdownBudget>().Start(app.Lifetime.ApplicationStopping,
        app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    await app.Services.GetRequiredService<PipelineStartup>().RunAsync(app.Lifetime.ApplicationStopping);
    if (options.Api.MutatingRequestsPerMinute > 0) app.UseRateLimiter();
    app.MapPgEgressMetrics();
    app.MapPgEgressApi();
    await app.RunAsync();
    return 0;
}
catch (PipelineSetupException e)
{
    return Fail("startup error", e.Message, 1);
}
catch (ConfigurationException e)
{
    return Fail("configuration error", e.Message, 2);
}
catch (ArgumentException e)
{
    return Fail("configuration error", e.Message, 2);
}
catch (NpgsqlException e)
{
    // What SourceSetup does not translate itself: still one line, not a stack trace.
    return Fail("startup error", $"the source database failed during setup: {(e is PostgresException p ? p.MessageText : e.Message)}", 1);
}

static int Fail(string kind, string message, int code)
{
    Console.Error.WriteLine($"pgegress: {kind}: {message}");
    return code;
}

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
