namespace PgEgress.Tests.Functions;

/// <summary>
/// POST /api/ingest/stop run against a scripted Durable client (StandIns/OrchestrationProbe.cs) that, like the task
/// hub, queues a termination and applies it only when the orchestration next runs: the reply is the state after it.
/// </summary>
public sealed class IngestStopTests
{
    private static Task<string> Stop(string status, bool appliesTermination) =>
        OrchestrationProbeImage.Call<Task<string>>("RunStopAsync", status, appliesTermination);

    [Fact]
    public async Task A_stop_answers_with_the_terminated_state_once_the_hub_applies_it()
    {
        var trace = (await Stop("Running", appliesTermination: true)).Split('\n');
        Assert.Equal(["terminate pgegress-ingest-pgegress", "wait pgegress-ingest-pgegress"], trace[..2]);
        Assert.StartsWith("200 ", trace[2]);
        Assert.Contains("\"runtime_status\":\"Terminated\"", trace[2]);
    }

    [Fact]
    public async Task A_stop_the_hub_has_not_applied_within_the_wait_answers_terminating()
    {
        var trace = (await Stop("Running", appliesTermination: false)).Split('\n');
        Assert.Equal(["terminate pgegress-ingest-pgegress", "wait pgegress-ingest-pgegress"], trace[..2]);
        Assert.StartsWith("202 ", trace[2]);
        Assert.Contains("\"runtime_status\":\"Terminating\"", trace[2]);
    }

    [Fact]
    public async Task A_stop_of_an_instance_already_terminated_neither_terminates_nor_waits()
    {
        var trace = (await Stop("Terminated", appliesTermination: true)).Split('\n');
        Assert.Single(trace);
        Assert.StartsWith("200 ", trace[0]);
        Assert.Contains("\"runtime_status\":\"Terminated\"", trace[0]);
    }
}
