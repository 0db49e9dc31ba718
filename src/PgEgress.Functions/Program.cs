using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PgEgress.Core.Configuration;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Reload;
using PgEgress.Functions.Orchestrations;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();

// The Host's settings (app settings PgEgress__Section__Key), validated the same way before anything runs.
var options = OptionsBinding.Bind(builder.Configuration);
var errors = OptionsValidator.Validate(options);
if (errors.Count > 0) throw new InvalidOperationException($"pgegress: configuration error: {string.Join("; ", errors)}");

// An activity cannot hold the slot-creating replication connection open until the reload activity runs: each table of
// the initial load is exported under a snapshot of its own.
builder.Services.AddPgEgress(options, InitialLoadSnapshotPolicy.FreshSnapshotPerTable);
builder.Services.AddSingleton<EternalOrchestrations>();

var host = builder.Build();
host.Services.GetRequiredService<ShutdownBudget>().Start(host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping,
    host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
host.Run();
