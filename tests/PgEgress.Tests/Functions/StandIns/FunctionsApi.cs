// Stand-ins for the part of the Azure Functions worker and Durable Task API that src/PgEgress.Functions uses, with
// the signatures of shared/reference/azure-functions.md (Worker 2.52.0, Extensions.Timer 4.3.1,
// Extensions.DurableTask 1.16.5 / Microsoft.DurableTask 1.x). The real packages do not restore on the machines that
// run this suite, so FunctionsCompileTests compiles the Functions source against these and the current Core, to
// catch a Core change that breaks the Functions app before azure-pipelines.yml does. Not part of the test assembly.
// Overloads are kept where they matter for overload resolution (ContinueAsNew: gotcha #1; TerminateInstanceAsync).
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Azure.Functions.Worker
{
    [AttributeUsage(AttributeTargets.Method)] public sealed class FunctionAttribute(string name) : Attribute { public string Name => name; }
    public enum AuthorizationLevel { Anonymous = 0, User = 1, Function = 2, System = 3, Admin = 4 }
    [AttributeUsage(AttributeTargets.Parameter)] public sealed class HttpTriggerAttribute : Attribute
    {
        public HttpTriggerAttribute() { AuthLevel = AuthorizationLevel.Function; }
        public HttpTriggerAttribute(params string[] methods) { Methods = methods; }
        public HttpTriggerAttribute(AuthorizationLevel authLevel) { AuthLevel = authLevel; }
        public HttpTriggerAttribute(AuthorizationLevel authLevel, params string[] methods) { AuthLevel = authLevel; Methods = methods; }
        public string? Route { get; set; } public string[]? Methods { get; set; } public AuthorizationLevel AuthLevel { get; set; }
    }
    [AttributeUsage(AttributeTargets.Parameter)] public sealed class TimerTriggerAttribute(string schedule) : Attribute { public string Schedule => schedule; public bool UseMonitor { get; set; } = true; public bool RunOnStartup { get; set; } }
    public class TimerInfo { public bool IsPastDue { get; set; } }
    public abstract class FunctionContext { public abstract CancellationToken CancellationToken { get; set; } }
    [AttributeUsage(AttributeTargets.Parameter)] public sealed class OrchestrationTriggerAttribute : Attribute { public string? Orchestration { get; set; } }
    [AttributeUsage(AttributeTargets.Parameter)] public sealed class ActivityTriggerAttribute : Attribute { public string? Activity { get; set; } }
    [AttributeUsage(AttributeTargets.Parameter)] public sealed class DurableClientAttribute : Attribute { public string? TaskHub { get; set; } }
}

namespace Microsoft.Azure.Functions.Worker.Builder
{
    public class FunctionsApplication { public static FunctionsApplicationBuilder CreateBuilder(string[] args) => new(); }
    public class FunctionsApplicationBuilder
    {
        public ConfigurationManager Configuration { get; } = new();
        public IServiceCollection Services { get; } = new ServiceCollection();
        public IHost Build() => throw new NotSupportedException();
    }
    public static class FunctionsApplicationBuilderAspNetCoreExtensions
    {
        public static FunctionsApplicationBuilder ConfigureFunctionsWebApplication(this FunctionsApplicationBuilder builder) => builder;
    }
}

namespace Microsoft.DurableTask
{
    public readonly struct TaskName(string name) { public string Name => name; public static implicit operator TaskName(string value) => new(value); }
    public class RetryPolicy
    {
        public RetryPolicy(int maxNumberOfAttempts, TimeSpan firstRetryInterval, double backoffCoefficient = 1.0, TimeSpan? maxRetryInterval = null, TimeSpan? retryTimeout = null) { }
    }
    public sealed class TaskRetryOptions { public TaskRetryOptions(RetryPolicy policy) { } public static implicit operator TaskRetryOptions(RetryPolicy policy) => new(policy); }
    public record TaskOptions
    {
        public TaskOptions(TaskRetryOptions? retry = null, IDictionary<string, string>? tags = null) { Retry = retry; }
        public static TaskOptions FromRetryPolicy(RetryPolicy policy) => new(new TaskRetryOptions(policy));
        public TaskRetryOptions? Retry { get; init; }
    }
    public record StartOrchestrationOptions(string? InstanceId = null, DateTimeOffset? StartAt = null);
    public abstract class AsyncPageable<T> : IAsyncEnumerable<T> where T : notnull
    {
        public virtual IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
    public class ContinueAsNewOptions { }
    public class TaskFailedException(string message) : Exception(message) { }
    public class TaskFailureDetails { public string ErrorType { get; set; } = ""; public string ErrorMessage { get; set; } = ""; }
    public abstract class TaskOrchestrationContext
    {
        public abstract string InstanceId { get; }
        public abstract DateTime CurrentUtcDateTime { get; }
        public abstract bool IsReplaying { get; }
        public abstract T? GetInput<T>();
        public abstract Task<TResult> CallActivityAsync<TResult>(TaskName name, object? input = null, TaskOptions? options = null);
        public virtual Task CallActivityAsync(TaskName name, object? input = null, TaskOptions? options = null) => Task.CompletedTask;
        public virtual Task CallActivityAsync(TaskName name, TaskOptions options) => Task.CompletedTask;
        public virtual Task<TResult> CallActivityAsync<TResult>(TaskName name, TaskOptions options) => throw new NotSupportedException();
        public abstract Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken);
        public virtual Task CreateTimer(TimeSpan delay, CancellationToken cancellationToken) => Task.CompletedTask;
        public abstract void SetCustomStatus(object? customStatus);
        public abstract void ContinueAsNew(object? newInput = null, bool preserveUnprocessedEvents = true);
        public virtual void ContinueAsNew(ContinueAsNewOptions options) => ArgumentNullException.ThrowIfNull(options);
        public abstract Guid NewGuid();
    }
}

namespace Microsoft.DurableTask.Client
{
    public enum OrchestrationRuntimeStatus { Running, Completed, [Obsolete] ContinuedAsNew, Failed, [Obsolete] Canceled, Terminated, Pending, Suspended }
    public sealed class OrchestrationMetadata(string name, string instanceId)
    {
        public string Name => name; public string InstanceId => instanceId;
        public OrchestrationRuntimeStatus RuntimeStatus { get; init; }
        public DateTimeOffset CreatedAt { get; init; } public DateTimeOffset LastUpdatedAt { get; init; }
        public string? SerializedInput { get; init; }
        public Microsoft.DurableTask.TaskFailureDetails? FailureDetails { get; init; }
        public bool IsRunning => RuntimeStatus == OrchestrationRuntimeStatus.Running;
        public T? ReadInputAs<T>() => default;
    }
    public class TerminateInstanceOptions { public object? Output { get; init; } }
    public record OrchestrationQuery(DateTimeOffset? CreatedFrom = null, DateTimeOffset? CreatedTo = null, IEnumerable<OrchestrationRuntimeStatus>? Statuses = null,
        IEnumerable<string>? TaskHubNames = null, string? InstanceIdPrefix = null, int PageSize = 100, bool FetchInputsAndOutputs = false, string? ContinuationToken = null);
    public abstract class DurableTaskClient
    {
        public virtual Task<string> ScheduleNewOrchestrationInstanceAsync(Microsoft.DurableTask.TaskName orchestratorName, CancellationToken cancellation) => throw new NotSupportedException();
        public virtual Task<string> ScheduleNewOrchestrationInstanceAsync(Microsoft.DurableTask.TaskName orchestratorName, object? input, CancellationToken cancellation) => throw new NotSupportedException();
        public virtual Task<string> ScheduleNewOrchestrationInstanceAsync(Microsoft.DurableTask.TaskName orchestratorName, Microsoft.DurableTask.StartOrchestrationOptions options, CancellationToken cancellation = default) => throw new NotSupportedException();
        public abstract Task<string> ScheduleNewOrchestrationInstanceAsync(Microsoft.DurableTask.TaskName orchestratorName, object? input = null, Microsoft.DurableTask.StartOrchestrationOptions? options = null, CancellationToken cancellation = default);
        public virtual Task<OrchestrationMetadata?> GetInstanceAsync(string instanceId, CancellationToken cancellation) => throw new NotSupportedException();
        public abstract Task<OrchestrationMetadata?> GetInstanceAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default);
        public virtual Microsoft.DurableTask.AsyncPageable<OrchestrationMetadata> GetAllInstancesAsync(OrchestrationQuery? filter = null) => throw new NotSupportedException();
        public virtual Task TerminateInstanceAsync(string instanceId, CancellationToken cancellation) => Task.CompletedTask;
        public virtual Task TerminateInstanceAsync(string instanceId, object? output, CancellationToken cancellation = default) => Task.CompletedTask;
        public virtual Task TerminateInstanceAsync(string instanceId, TerminateInstanceOptions? options = null, CancellationToken cancellation = default) => Task.CompletedTask;
        public virtual Task<OrchestrationMetadata> WaitForInstanceCompletionAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default) => throw new NotSupportedException();
    }
}
