using Azure.Identity;
using Microsoft.Extensions.Logging;
using PgEgress.Core.Configuration;
using PgEgress.Core.Replication;
using PgEgress.Core.Sinks;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Pipeline;

/// <summary>
/// Makes a pipeline ready to stream, in the Host's start-up order: the work directory (<see cref="WorkDirectoryCheck"/>)
/// and the object store first (a pipeline that cannot write must not leave behind a publication and a slot that hold
/// WAL on the source), then the source checks,
/// registry migrations, publication and slot (<see cref="SourceSetup"/>), and a cursor for every enabled sink. The Functions app runs it at the start of
/// each ingest orchestration (an activity), so that a scale-out never runs it in every instance at once.
/// Idempotent: every step tolerates having run before.
/// </summary>
/// <exception cref="PipelineSetupException">The work directory, the store or the source cannot be used; the message says why.</exception>
/// <exception cref="Configuration.ConfigurationException">A sink's target is the source.</exception>
public sealed class PipelineStartup(IObjectStore store, SourceSetup setup, SinkRunners sinks, PgEgressOptions options, ILogger<PipelineStartup> logger)
{
    public async Task RunAsync(CancellationToken ct)
    {
        WorkDirectoryCheck.Prepare(options.WorkDirectory);
        try
        {
            await store.EnsureReadyAsync(ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException or TimeoutException
                                       or TaskCanceledException { InnerException: TimeoutException } or AuthenticationFailedException)
        {
            throw new PipelineSetupException($"the store {store.Describe} is not usable: {e.Message}", e);
        }
        await LeftoverSweep.RunAsync(store, logger, ct);
        // A sink applying to the source itself is a configuration error, found before a slot is made for it.
        await sinks.CheckTargetsAsync(ct);
        await setup.RunAsync(ct);
        await sinks.EnsureCursorsAsync(ct);
    }
}
