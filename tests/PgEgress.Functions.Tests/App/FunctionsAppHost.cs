using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.Core;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace PgEgress.Functions.Tests.App;

/// <summary>What an HTTP function answered, as the ASP.NET Core integration would have written it.</summary>
internal sealed record FunctionReply(int StatusCode, string? ContentType, string Body, IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>
/// The Functions app built as Program.cs builds it (FunctionsApplication.CreateBuilder, the worker extensions'
/// startup code the Worker SDK generated into the app assembly, then <see cref="FunctionsApp.Compose"/>), without the
/// Functions host: functions are created from a scope of the app's services and called the way the worker calls them,
/// with the bindings functions.metadata declares.
/// </summary>
internal sealed class FunctionsAppHost : IAsyncDisposable
{
    private readonly IHost _host;

    private FunctionsAppHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    /// <param name="settings">App settings as the worker reads them (PgEgress__Source__ConnectionString, …).</param>
    public static FunctionsAppHost Build(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key.Replace("__", ":", StringComparison.Ordinal), s.Value)));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // The worker runs these from the entry assembly, which here is the test host: run the app's own.
        var startup = typeof(FunctionsApp).Assembly.GetCustomAttribute<WorkerExtensionStartupCodeExecutorInfoAttribute>()
            ?? throw new InvalidOperationException("the app assembly names no worker extension startup code");
        ((WorkerExtensionStartup)Activator.CreateInstance(startup.StartupCodeExecutorType)!).Configure(builder);
        FunctionsApp.Compose(builder);
        services?.Invoke(builder.Services);
        var host = builder.Build();
        FunctionsApp.Started(host);
        return new FunctionsAppHost(host);
    }

    /// <summary>An instance of a function class, as the worker creates one per invocation.</summary>
    public T Create<T>(IServiceProvider scope) where T : class => ActivatorUtilities.CreateInstance<T>(scope);

    /// <summary>
    /// Calls the HTTP function that functions.metadata routes <paramref name="method"/> <paramref name="path"/> to (the
    /// path without host.json's "api" prefix, URL-encoded as a client sends it), binding the request, route values and a Durable client as the worker
    /// does, and executes its result.
    /// </summary>
    public async Task<FunctionReply> SendAsync(string method, string path, DurableTaskClient? durable = null, CancellationToken ct = default)
    {
        // The path as sent on the wire: the server decodes it (%22 to ") before routing, as the Functions host does.
        var decoded = PathString.FromUriComponent("/" + path);
        var (function, values) = Route(method, decoded);
        await using var scope = Services.CreateAsyncScope();
        var http = new DefaultHttpContext { RequestServices = scope.ServiceProvider, RequestAborted = ct };
        http.Request.Method = method;
        http.Request.Path = "/api" + decoded;
        var body = new MemoryStream();
        http.Response.Body = body;

        var entry = AppDurableTasks.EntryPoint(function);
        var target = entry.IsStatic ? null : ActivatorUtilities.CreateInstance(scope.ServiceProvider, entry.DeclaringType!);
        var arguments = entry.GetParameters().Select(p => p.ParameterType switch
        {
            var t when t == typeof(HttpRequest) => http.Request,
            var t when t == typeof(DurableTaskClient) => durable ?? throw new InvalidOperationException($"{function.Name} needs a Durable client"),
            var t when t == typeof(CancellationToken) => ct,
            _ when values.TryGetValue(p.Name!, out var value) => (object?)value?.ToString(),
            _ => throw new NotSupportedException($"{function.Name}: cannot bind parameter {p.Name} ({p.ParameterType})"),
        }).ToArray();

        var result = await AppDurableTasks.InvokeAsync(entry, target, arguments) as IActionResult
            ?? throw new NotSupportedException($"{function.Name} returned no IActionResult");
        await result.ExecuteResultAsync(new ActionContext(http, new RouteData(values), new ActionDescriptor()));
        return new FunctionReply(http.Response.StatusCode, http.Response.ContentType, System.Text.Encoding.UTF8.GetString(body.ToArray()),
            http.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
    }

    private static (FunctionDeclaration Function, RouteValueDictionary Values) Route(string method, PathString path)
    {
        foreach (var function in FunctionsMetadata.All.Where(f => f.Http is not null))
        {
            var http = function.Http!;
            if (!http.Methods.Contains(method, StringComparer.OrdinalIgnoreCase)) continue;
            var values = new RouteValueDictionary();
            if (new TemplateMatcher(TemplateParser.Parse(http.Route ?? function.Name), []).TryMatch(path, values))
                return (function, values);
        }
        throw new InvalidOperationException($"no HTTP function serves {method} {path}");
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
