using Microsoft.Extensions.Hosting;
using Microsoft.Azure.Functions.Worker.Builder;
using PgEgress.Functions;

var builder = FunctionsApplication.CreateBuilder(args);
FunctionsApp.Compose(builder);
var host = builder.Build();
FunctionsApp.Started(host);
host.Run();
