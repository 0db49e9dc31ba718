using System.Reflection;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace PgEgress.Functions.Tests.App;

/// <summary>
/// The app's orchestrators and activities, as functions.metadata declares them, in the shape a Durable engine runs
/// (<see cref="ITaskOrchestrator"/>, <see cref="ITaskActivity"/>), each invoked as the isolated worker invokes it: an
/// orchestrator gets the worker's own FunctionsOrchestrationContext around the engine's context, an activity is
/// created from a scope of the app's services and gets its input and a FunctionContext.
/// </summary>
internal static class AppDurableTasks
{
    public static IEnumerable<(string Name, ITaskOrchestrator Orchestrator)> Orchestrators(IServiceProvider app) =>
        FunctionsMetadata.All.Where(f => f.Bindings.Any(b => b.Type == "orchestrationTrigger"))
            .Select(f => (f.Name, (ITaskOrchestrator)new FunctionOrchestrator(f.Name, EntryPoint(f), app)));

    public static IEnumerable<(string Name, ITaskActivity Activity)> Activities(IServiceProvider app) =>
        FunctionsMetadata.All.Where(f => f.Bindings.Any(b => b.Type == "activityTrigger"))
            .Select(f => (f.Name, (ITaskActivity)new FunctionActivity(f.Name, EntryPoint(f), app)));

    /// <summary>Registers every orchestrator and activity of the app under its function name.</summary>
    public static void AddTo(DurableTaskRegistry registry, IServiceProvider app)
    {
        foreach (var (name, orchestrator) in Orchestrators(app)) registry.AddOrchestrator(name, orchestrator);
        foreach (var (name, activity) in Activities(app)) registry.AddActivity(name, activity);
    }

    public static MethodInfo EntryPoint(FunctionDeclaration function)
    {
        var split = function.EntryPoint.LastIndexOf('.');
        var type = typeof(FunctionsApp).Assembly.GetType(function.EntryPoint[..split], throwOnError: true)!;
        return type.GetMethod(function.EntryPoint[(split + 1)..]) ?? throw new MissingMethodException(function.EntryPoint);
    }

    /// <summary>Invokes <paramref name="method"/> on <paramref name="target"/> and awaits what it returns, unwrapping the invocation's exception.</summary>
    public static async Task<object?> InvokeAsync(MethodInfo method, object? target, object?[] arguments)
    {
        object? returned;
        try
        {
            returned = method.Invoke(target, arguments);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        if (returned is not Task task) return returned;
        await task;
        return task.GetType().IsGenericType ? task.GetType().GetProperty(nameof(Task<object>.Result))!.GetValue(task) : null;
    }

    private static CancellationToken Stopping(IServiceProvider app) => app.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;

    private sealed class FunctionOrchestrator(string name, MethodInfo method, IServiceProvider app) : ITaskOrchestrator
    {
        private static readonly Type WorkerContext = typeof(Microsoft.Azure.Functions.Worker.DurableTaskClientExtensions).Assembly
            .GetType("Microsoft.Azure.Functions.Worker.Extensions.DurableTask.FunctionsOrchestrationContext", throwOnError: true)!;

        // As the worker registers a function orchestrator: untyped input, read by the orchestrator with GetInput<T>().
        public Type InputType => typeof(object);

        public Type OutputType => typeof(object);

        public Task<object?> RunAsync(TaskOrchestrationContext context, object? input)
        {
            var functionContext = new TestFunctionContext(name, app, Stopping(app));
            var wrapped = Activator.CreateInstance(WorkerContext, context, functionContext)!;
            var target = method.IsStatic ? null : ActivatorUtilities.CreateInstance(app, method.DeclaringType!);
            return InvokeAsync(method, target, [.. method.GetParameters().Select(p => p.ParameterType == typeof(FunctionContext) ? functionContext : wrapped)]);
        }
    }

    private sealed class FunctionActivity(string name, MethodInfo method, IServiceProvider app) : ITaskActivity
    {
        private readonly ParameterInfo _trigger = method.GetParameters().Single(p => p.GetCustomAttribute<ActivityTriggerAttribute>() is not null);

        public Type InputType => _trigger.ParameterType;

        public Type OutputType => method.ReturnType.IsGenericType ? method.ReturnType.GetGenericArguments()[0] : typeof(object);

        public async Task<object?> RunAsync(TaskActivityContext context, object? input)
        {
            await using var scope = app.CreateAsyncScope();
            var functionContext = new TestFunctionContext(name, scope.ServiceProvider, Stopping(app));
            var target = method.IsStatic ? null : ActivatorUtilities.CreateInstance(scope.ServiceProvider, method.DeclaringType!);
            var arguments = method.GetParameters().Select(p => p == _trigger ? input
                : p.ParameterType == typeof(FunctionContext) ? functionContext
                : p.ParameterType == typeof(CancellationToken) ? (object)functionContext.CancellationToken
                : throw new NotSupportedException($"{name}: cannot bind parameter {p.Name} ({p.ParameterType})")).ToArray();
            return await InvokeAsync(method, target, arguments);
        }
    }
}
