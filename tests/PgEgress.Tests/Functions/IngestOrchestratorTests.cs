namespace PgEgress.Tests.Functions;

/// <summary>
/// One generation of the ingest (and the reload and sink) orchestrator, run against a scripted orchestration context (StandIns/OrchestrationProbe.cs)
/// with its state and results passed through the worker's serializer: what it calls, when it waits, what it hands on.
/// </summary>
public sealed class IngestOrchestratorTests
{
    private static Task<string> Probe(bool prepared, params string[] outcomes) => OrchestrationProbeImage.Call<Task<string>>("RunAsync", prepared, outcomes);

    private static Task<string> ReloadProbe(params string[] outcomes) => OrchestrationProbeImage.Call<Task<string>>("RunReloadAsync", [outcomes]);

    private static Task<string> SinkProbe(params string[] outcomes) => OrchestrationProbeImage.Call<Task<string>>("RunSinkAsync", [outcomes]);

    [Fact]
    public async Task A_new_orchestration_prepares_then_slices_and_waits_after_an_idle_slice()
    {
        var trace = Lines(await Probe(false, ["true", "idle"]));
        Assert.Equal("call PrepareSource(pgegress) retry=set", trace[0]);
        Assert.Equal("call ConsumeSlice(pgegress) retry=set", trace[1]);
        Assert.Equal("timer 00:00:10", trace[2]);
        Assert.StartsWith("continue round-trips", trace[3]);
        Assert.Contains("\"prepared\":true", trace[3]);
        Assert.Contains("\"idleSlices\":1", trace[3]);
        Assert.Equal(4, trace.Length);
    }

    [Fact]
    public async Task A_busy_slice_continues_at_once_with_the_counts()
    {
        var trace = Lines(await Probe(true, ["busy"]));
        Assert.Equal("call ConsumeSlice(pgegress) retry=set", trace[0]);
        Assert.StartsWith("continue round-trips", trace[1]);
        Assert.Contains("\"transactions\":3", trace[1]);
        Assert.Contains("\"changes\":7", trace[1]);
        Assert.Contains("\"endLsn\":\"0/12C\"", trace[1]); // the last slice's summary, LSNs as text
        Assert.Equal(2, trace.Length);
    }

    [Fact]
    public async Task When_retries_give_up_it_backs_off_and_prepares_again_next_generation()
    {
        var trace = Lines(await Probe(true, ["fail"]));
        Assert.Equal("timer 00:01:00", trace[1]);
        Assert.StartsWith("continue round-trips", trace[2]);
        Assert.Contains("\"prepared\":false", trace[2]);
        Assert.Contains("the source is unreachable", trace[2]);
    }

    [Fact]
    public async Task An_orchestration_for_a_pipeline_no_longer_configured_ends()
    {
        var trace = Lines(await Probe(false, ["false"]));
        Assert.Equal(["call PrepareSource(pgegress) retry=set"], trace);
    }

    [Fact]
    public async Task The_reload_orchestrator_exports_then_waits_only_when_nothing_was_pending()
    {
        var idle = Lines(await ReloadProbe("0"));
        Assert.Equal(["call ExportReloads(pgegress) retry=set", "timer 00:00:15", "continue round-trips \"pgegress\""], idle);
        var busy = Lines(await ReloadProbe("2"));
        Assert.Equal(["call ExportReloads(pgegress) retry=set", "continue round-trips \"pgegress\""], busy);
        var failed = Lines(await ReloadProbe("fail", "true"));
        Assert.Equal(["call ExportReloads(pgegress) retry=set", "call TargetConfigured(pgegress-reload-pgegress) retry=set", "timer 00:00:15",
            "continue round-trips \"pgegress\""], failed);
    }

    [Fact]
    public async Task A_reload_orchestration_for_a_pipeline_no_longer_configured_ends_once_its_retries_give_up()
    {
        var trace = Lines(await ReloadProbe("fail", "false"));
        Assert.Equal(["call ExportReloads(pgegress) retry=set", "call TargetConfigured(pgegress-reload-pgegress) retry=set"], trace);
    }

    [Fact]
    public async Task The_sink_orchestrator_delivers_then_waits_only_when_caught_up()
    {
        Assert.Equal(["call DeliverSink(hook) retry=set", "timer 00:00:05", "continue round-trips \"hook\""], Lines(await SinkProbe("true")));
        Assert.Equal(["call DeliverSink(hook) retry=set", "continue round-trips \"hook\""], Lines(await SinkProbe("false")));
        Assert.Equal(["call DeliverSink(hook) retry=set", "call TargetConfigured(pgegress-sink-pgegress-hook) retry=set", "timer 00:00:05",
            "continue round-trips \"hook\""], Lines(await SinkProbe("fail", "true")));
    }

    [Fact]
    public async Task A_sink_orchestration_whose_sink_is_no_longer_configured_ends_once_its_retries_give_up()
    {
        var trace = Lines(await SinkProbe("fail", "false"));
        Assert.Equal(["call DeliverSink(hook) retry=set", "call TargetConfigured(pgegress-sink-pgegress-hook) retry=set"], trace);
    }

    private static string[] Lines(string trace) => trace.Split('\n');
}
