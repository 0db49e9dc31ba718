// Runs one generation of the Functions app's IngestOrchestrator or ReloadOrchestrator against a scripted orchestration
// context, for IngestOrchestratorTests. Compiled with the Functions source and FunctionsApi.cs; not part of the test assembly.
using System.Text.Json;
using Microsoft.DurableTask;
using PgEgress.Core.Replication;
using PgEgress.Functions.Ingest;
using PgEgress.Functions.Reload;

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
        var context = new ScriptedContext(JsonSerializer.Serialize<object>(start, Worker), outcomes, typeof(IngestState));
        await IngestOrchestrator.Run(context);
        return string.Join("\n", context.Trace);
    }

    /// <summary>One generation of the reload orchestrator; <paramref name="outcomes"/>: tables exported ("0", "2") or "fail".</summary>
    public static async Task<string> RunReloadAsync(string[] outcomes)
    {
        var context = new ScriptedContext(JsonSerializer.Serialize("pgegress", Worker), outcomes, typeof(string));
        await ReloadOrchestrator.Run(context);
        return string.Join("\n", context.Trace);
    }

    private sealed class ScriptedContext(string input, string[] outcomes, Type stateType) : TaskOrchestrationContext
    {
        private readonly Queue<string> _outcomes = new(outcomes);
        private static readonly DateTime Now = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        public List<string> Trace { get; } = [];

        public override string InstanceId => IngestOrchestrator.InstanceIdFor("pgegress");
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
