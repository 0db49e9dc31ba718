// Runs one generation of the Functions app's IngestOrchestrator, ReloadOrchestrator or SinkOrchestrator against a scripted orchestration
// context, for IngestOrchestratorTests. Compiled with the Functions source and FunctionsApi.cs; not part of the test assembly.
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging.Abstractions;
using PgEgress.Core.Api;
using PgEgress.Core.Configuration;
using PgEgress.Core.Replication;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Orchestrations;
using PgEgress.Functions.Reload;
using PgEgress.Functions.Sinks;

namespace PgEgress.Tests.Functions.StandIns;

public static class OrchestrationProbe
{
    /// <summary>The Functions worker's default serializer settings (System.Text.Json, camelCase, case-insensitive).</summary>
    private static readonly JsonSerializerOptions Worker = new() { PropertyNameCaseInsensitive = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>
    /// Runs one generation: <paramref name="prepared"/> sets the input's Prepared flag, <paramref name="outcomes"/>
    /// answers the activities in call order ("true"/"false" for PrepareSource, "idle"/"busy" for ConsumeSlice,
    /// "fail" for a TaskFailedException). Returns one line per orchestrator action.
    /// </summary>
    public static async Task<string> RunAsync(bool prepared, string[] outcomes)
    {
        var start = IngestState.Start("pgegress", TimeSpan.FromSeconds(10)) with { Prepared = prepared };
        // The input arrives serialized, as from the client or the previous generation.
        var context = new ScriptedContext(IngestOrchestrator.InstanceIdFor("pgegress"), JsonSerializer.Serialize<object>(start, Worker), outcomes, typeof(IngestState));
        await IngestOrchestrator.Run(context);
        return string.Join("\n", context.Trace);
    }

    /// <summary>One generation of the reload orchestrator; <paramref name="outcomes"/>: tables exported ("0", "2") or "fail", then "true"/"false" for TargetConfigured.</summary>
    public static async Task<string> RunReloadAsync(string[] outcomes)
    {
        var context = new ScriptedContext(ReloadOrchestrator.InstanceIdFor("pgegress"), JsonSerializer.Serialize("pgegress", Worker), outcomes, typeof(string));
        await ReloadOrchestrator.Run(context);
        return string.Join("\n", context.Trace);
    }

    /// <summary>One generation of the orchestrator of sink "hook"; <paramref name="outcomes"/>: "true"/"false" (caught up) or "fail", then "true"/"false" for TargetConfigured.</summary>
    public static async Task<string> RunSinkAsync(string[] outcomes)
    {
        var context = new ScriptedContext(SinkOrchestrator.InstanceIdFor("pgegress", "hook"), JsonSerializer.Serialize("hook", Worker), outcomes, typeof(string));
        await SinkOrchestrator.Run(context);
        return string.Join("\n", context.Trace);
    }

    /// <summary>
    /// One watchdog tick against a task hub holding <paramref name="running"/> (instance ids, all running): one line per
    /// start and per termination it asks of the client.
    /// </summary>
    public static async Task<string> RunWatchdogAsync(PgEgressOptions options, string[] running)
    {
        var client = new ScriptedClient(running);
        await new Watchdog(new EternalOrchestrations(options), NullLogger<Watchdog>.Instance).Run(new TimerInfo(), client, new ScriptedFunctionContext());
        return string.Join("\n", client.Trace);
    }

    /// <summary>
    /// POST /api/ingest/stop against a task hub where the ingest instance is <paramref name="status"/>; the hub applies
    /// a termination when waited on if <paramref name="appliesTermination"/>, else not before the wait gives up (as
    /// when the orchestration is not dispatched meanwhile). Returns the client's calls, then the reply's status and body.
    /// </summary>
    public static async Task<string> RunStopAsync(string status, bool appliesTermination)
    {
        var options = new PgEgressOptions { Source = { Slot = "pgegress" } };
        var client = new TerminatingClient(IngestOrchestrator.InstanceIdFor("pgegress"), Enum.Parse<OrchestrationRuntimeStatus>(status), appliesTermination);
        var reply = (JsonResult)await new IngestControl(new EternalOrchestrations(options)).Stop(new DefaultHttpContext().Request, client);
        return string.Join("\n", client.Trace.Append($"{reply.StatusCode} {JsonSerializer.Serialize(reply.Value, ApiJson.Options)}"));
    }

    /// <summary>The instance ids among <paramref name="instanceIds"/> that the configuration no longer names.</summary>
    public static string[] Orphans(PgEgressOptions options, string[] instanceIds) => [.. new EternalOrchestrations(options).Orphans(instanceIds)];

    private sealed class ScriptedFunctionContext : FunctionContext
    {
        public override CancellationToken CancellationToken { get; set; }
    }

    private sealed class ScriptedClient(string[] running) : DurableTaskClient
    {
        public List<string> Trace { get; } = [];

        public override Task<OrchestrationMetadata?> GetInstanceAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default) =>
            Task.FromResult(running.Contains(instanceId) ? new OrchestrationMetadata("x", instanceId) { RuntimeStatus = OrchestrationRuntimeStatus.Running } : null);

        public override Task<string> ScheduleNewOrchestrationInstanceAsync(TaskName orchestratorName, object? input = null, StartOrchestrationOptions? options = null, CancellationToken cancellation = default)
        {
            Trace.Add($"start {options?.InstanceId}");
            return Task.FromResult(options?.InstanceId ?? "");
        }

        public override AsyncPageable<OrchestrationMetadata> GetAllInstancesAsync(OrchestrationQuery? filter = null)
        {
            // As the service filters: by prefix and status.
            var statuses = filter?.Statuses?.ToList() ?? [];
            return new Listed([.. running.Where(id => id.StartsWith(filter?.InstanceIdPrefix ?? "", StringComparison.Ordinal) && statuses.Contains(OrchestrationRuntimeStatus.Running))
                .Select(id => new OrchestrationMetadata("x", id) { RuntimeStatus = OrchestrationRuntimeStatus.Running })]);
        }

        public override Task TerminateInstanceAsync(string instanceId, object? output, CancellationToken cancellation = default)
        {
            Trace.Add($"terminate {instanceId}");
            return Task.CompletedTask;
        }
    }

    /// <summary>One instance; as the service does, a termination is queued and applied when the orchestration next runs.</summary>
    private sealed class TerminatingClient(string instanceId, OrchestrationRuntimeStatus status, bool appliesTermination) : DurableTaskClient
    {
        private bool _terminationQueued;

        public List<string> Trace { get; } = [];

        private OrchestrationMetadata Current => new("IngestOrchestrator", instanceId) { RuntimeStatus = status };

        public override Task<OrchestrationMetadata?> GetInstanceAsync(string id, bool getInputsAndOutputs = false, CancellationToken cancellation = default) =>
            Task.FromResult(id == instanceId ? Current : null);

        public override Task<string> ScheduleNewOrchestrationInstanceAsync(TaskName orchestratorName, object? input = null, StartOrchestrationOptions? options = null, CancellationToken cancellation = default) =>
            throw new InvalidOperationException("a stop starts nothing");

        public override Task TerminateInstanceAsync(string id, object? output, CancellationToken cancellation = default)
        {
            Trace.Add($"terminate {id}");
            _terminationQueued = true;
            return Task.CompletedTask;
        }

        public override async Task<OrchestrationMetadata> WaitForInstanceCompletionAsync(string id, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
        {
            Trace.Add($"wait {id}");
            if (!(_terminationQueued && appliesTermination)) await Task.Delay(Timeout.Infinite, cancellation);
            status = OrchestrationRuntimeStatus.Terminated;
            return Current;
        }
    }

    private sealed class Listed(List<OrchestrationMetadata> instances) : AsyncPageable<OrchestrationMetadata>
    {
        public override async IAsyncEnumerator<OrchestrationMetadata> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            foreach (var instance in instances)
            {
                await Task.Yield();
                yield return instance;
            }
        }
    }

    private sealed class ScriptedContext(string instanceId, string input, string[] outcomes, Type stateType) : TaskOrchestrationContext
    {
        private readonly Queue<string> _outcomes = new(outcomes);
        private static readonly DateTime Now = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        public List<string> Trace { get; } = [];

        public override string InstanceId => instanceId;
        public override DateTime CurrentUtcDateTime => Now;
        public override bool IsReplaying => false;
        public override T? GetInput<T>() where T : default => JsonSerializer.Deserialize<T>(input, Worker);

        public override Task<TResult> CallActivityAsync<TResult>(TaskName name, object? input = null, TaskOptions? options = null)
        {
            Trace.Add($"call {name.Name}({input}) retry={(options?.Retry is null ? "none" : "set")}");
            var outcome = _outcomes.Dequeue();
            if (outcome == "fail") throw new TaskFailedException($"Task '{name.Name}' failed: the source is unreachable");
            object result = outcome switch
            {
                "true" => true,
                "false" => false,
                _ when int.TryParse(outcome, out var tables) => tables,
                "idle" => new SliceResult(100, 100, 0, 0, 0, 200, null, false, Now, TimeSpan.FromSeconds(10)),
                "busy" => new SliceResult(100, 300, 3, 7, 4096, 300, "_staging/pgegress/x.seg", false, Now, TimeSpan.FromSeconds(2)),
                _ => throw new ArgumentException(outcome),
            };
            // The result crosses the worker serializer, as an activity's output does.
            return Task.FromResult((TResult)JsonSerializer.Deserialize(JsonSerializer.Serialize(result, Worker), typeof(TResult), Worker)!);
        }

        public override Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken)
        {
            Trace.Add($"timer {fireAt - Now:c}");
            return Task.CompletedTask;
        }

        public override void SetCustomStatus(object? customStatus) => Trace.Add("custom status");

        public override void ContinueAsNew(object? newInput = null, bool preserveUnprocessedEvents = true)
        {
            var json = JsonSerializer.Serialize(newInput, Worker);
            var next = JsonSerializer.Deserialize(json, stateType, Worker);
            Trace.Add($"continue {(Equals(next, newInput) ? "round-trips" : "DOES NOT ROUND-TRIP")} {json}");
        }

        public override Guid NewGuid() => Guid.Empty;
    }
}
