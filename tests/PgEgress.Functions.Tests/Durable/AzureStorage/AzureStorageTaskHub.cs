using System.Diagnostics;
using System.Text.Json;
using DurableTask.AzureStorage;
using DurableTask.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Converters;
using Microsoft.DurableTask.Worker;
using Microsoft.DurableTask.Worker.Shims;
using PgEgress.Functions.Tests.App;

namespace PgEgress.Functions.Tests.Durable.AzureStorage;

/// <summary>
/// The production Durable backend in the test process: a TaskHubWorker over DurableTask.AzureStorage on Azurite's
/// blob, queue and table services, running the app's orchestrators and activities through the shims the isolated
/// worker uses (DurableTaskShimFactory), and the host's Durable client over the same task hub. Disposing stops the
/// worker and deletes the task hub.
/// </summary>
internal sealed class AzureStorageTaskHub : IAsyncDisposable
{
    // The worker's JSON (System.Text.Json defaults, case-insensitive names), for inputs, outputs and the client alike.
    private static readonly DataConverter Converter = new JsonDataConverter(new JsonSerializerOptions { PropertyNameCaseInsensitive = true });

    private readonly AzureStorageOrchestrationService _service;
    private readonly TaskHubWorker _worker;

    private AzureStorageTaskHub(AzureStorageOrchestrationService service, TaskHubWorker worker, TimeSpan created)
    {
        _service = service;
        _worker = worker;
        Created = created;
        Client = new HostDurableTaskClient(service, Converter);
    }

    public DurableTaskClient Client { get; }

    /// <summary>How long creating the task hub's queues, tables and containers on Azurite took.</summary>
    public TimeSpan Created { get; }

    /// <param name="name">The task hub: 3–45 letters and digits, starting with a letter; one per test keeps their state apart.</param>
    public static async Task<AzureStorageTaskHub> StartAsync(AzuriteServer azurite, IServiceProvider app, string name)
    {
        var service = new AzureStorageOrchestrationService(new AzureStorageOrchestrationServiceSettings
        {
            TaskHubName = name,
            StorageAccountClientProvider = new StorageAccountClientProvider(azurite.ConnectionString),
            // As the host sets it (AzureStorageDurabilityProviderFactory): a start refused by its dedupe statuses
            // throws OrchestrationAlreadyExistsException; the library's default drops it silently.
            ThrowExceptionOnInvalidDedupeStatus = true,
            // The host's defaults are 4 partitions and 30 s: one partition is leased at once, and an idle queue is
            // polled every second instead of every 30.
            PartitionCount = 1,
            MaxQueuePollingInterval = TimeSpan.FromSeconds(1),
        });
        var clock = Stopwatch.StartNew();
        await service.CreateIfNotExistsAsync();
        var created = clock.Elapsed;

        var shims = new DurableTaskShimFactory(new DurableTaskWorkerOptions { DataConverter = Converter });
        var worker = new TaskHubWorker(service);
        worker.AddTaskOrchestrations([.. AppDurableTasks.Orchestrators(app)
            .Select(o => new Creator<TaskOrchestration>(o.Name, () => shims.CreateOrchestration(o.Name, o.Orchestrator)))]);
        worker.AddTaskActivities([.. AppDurableTasks.Activities(app)
            .Select(a => new Creator<TaskActivity>(a.Name, () => shims.CreateActivity(a.Name, a.Activity)))]);
        await worker.StartAsync();
        return new AzureStorageTaskHub(service, worker, created);
    }

    public async ValueTask DisposeAsync()
    {
        await _worker.StopAsync(isForced: true);
        _worker.Dispose();
        await _service.DeleteAsync();
    }

    /// <summary>A shim per execution, as the worker makes one per work item (an orchestration shim holds its run's state).</summary>
    private sealed class Creator<T> : ObjectCreator<T>
    {
        private readonly Func<T> _create;

        public Creator(string name, Func<T> create)
        {
            Name = name;
            Version = string.Empty;
            _create = create;
        }

        public override T Create() => _create();
    }
}
