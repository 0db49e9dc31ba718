using System.Text.Json;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;
using PgEgress.Host.Api;
using PgEgress.Host.Services;

// appsettings.json ships beside the binary; relative paths in settings still resolve against the working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
builder.Logging.AddJsonConsole(o => o.UseUtcTimestamp = true);

PgEgressOptions options;
try
{
    options = builder.Configuration.GetSection(PgEgressOptions.SectionName).Get<PgEgressOptions>() ?? new PgEgressOptions();
}
catch (InvalidOperationException e)
{
    return Fail("configuration error", e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}", 2);
}
var errors = OptionsValidator.Validate(options);
if (errors.Count > 0) return Fail("configuration error", string.Join("; ", errors), 2);

try
{
    builder.Services.AddPgEgress(options);
    builder.Services.AddSingleton(options.Api);
    builder.Services.AddHostedService<IngestService>();
    builder.Services.AddHostedService<FlushService>();
    builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

    var app = builder.Build();
    await app.Services.GetRequiredService<SourceSetup>().RunAsync(app.Lifetime.ApplicationStopping);
    await app.Services.GetRequiredService<IObjectStore>().EnsureReadyAsync(app.Lifetime.ApplicationStopping);
    app.MapPgEgressApi();
    await app.RunAsync();
    return 0;
}
catch (SourceSetupException e)
{
    return Fail("startup error", e.Message, 1);
}
catch (ArgumentException e)
{
    return Fail("configuration error", e.Message, 2);
}

static int Fail(string kind, string message, int code)
{
    Console.Error.WriteLine($"pgegress: {kind}: {message}");
    return code;
}

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
