using NCrontab;
using PgEgress.Functions.Tests.App;

namespace PgEgress.Functions.Tests.Settings;

/// <summary>
/// What the Functions host reads from app settings to run the app's bindings, as the build declared them in
/// functions.metadata, is set wherever the app runs (local.settings.json.example for func start, infra/main.bicep in
/// Azure): a %Name% in any binding attribute, every named connection, and the host storage the timer and Durable
/// bindings use when they name none. Timer schedules fire with the period the design gives them.
/// </summary>
public sealed class BindingSettingsTests
{
    /// <summary>Binding attributes that name a connection: the host reads Name, or Name__* for an identity-based one.</summary>
    private static readonly string[] ConnectionProperties = ["connection", "connectionName", "connectionStringSetting"];

    /// <summary>
    /// Bindings that use the host storage when they name no connection: the Durable task hub (AzureWebJobsStorage by
    /// default) and the timer's schedule monitor and singleton lock.
    /// </summary>
    private static readonly string[] HostStorageBindings = ["durableClient", "orchestrationTrigger", "activityTrigger", "entityTrigger", "timerTrigger"];

    private const string HostStorage = "AzureWebJobsStorage";

    /// <summary>Each timer's intended period (DESIGN.md: the flush every five minutes on the window boundary; the watchdog every minute).</summary>
    private static readonly Dictionary<string, TimeSpan> TimerPeriods = new(StringComparer.Ordinal)
    {
        ["FlushTimer"] = TimeSpan.FromMinutes(5),
        ["Watchdog"] = TimeSpan.FromMinutes(1),
    };

    [Fact]
    public void Every_setting_a_binding_reads_is_defined_locally_and_in_Bicep()
    {
        var read = SettingsRead(FunctionsMetadata.All).ToList();
        Assert.Contains(read, r => r.Setting == HostStorage && r.IsConnection); // the Durable and timer bindings are seen
        var local = DeploymentFiles.LocalSettings().Keys.ToHashSet(StringComparer.Ordinal);
        var bicep = DeploymentFiles.BicepAppSettingNames();
        var missing = read.SelectMany(r => new[] { ("local.settings.json.example", local), ("infra/main.bicep", bicep) }
                .Where(file => !Defines(file.Item2, r.Setting, r.IsConnection))
                .Select(file => $"{r.Function} reads {(r.IsConnection ? "connection " : "%")}{r.Setting}{(r.IsConnection ? "" : "%")}, which {file.Item1} does not set"))
            .Distinct().ToList();
        Assert.True(missing.Count == 0, string.Join("; ", missing));
    }

    [Fact]
    public void A_binding_setting_that_is_set_nowhere_is_noticed()
    {
        // Guards the reading above: a %reference% in any attribute and a named connection are found, and an
        // identity-based connection (Name__accountName) counts as set.
        var declared = FunctionsMetadata.Read("""
            [{ "name": "Nightly", "entryPoint": "App.Nightly.Run", "bindings": [
                 { "name": "timer", "type": "timerTrigger", "direction": "In", "schedule": "%NIGHTLY_SCHEDULE%" },
                 { "name": "queue", "type": "queueTrigger", "direction": "In", "queueName": "%QUEUE_NAME%", "connection": "Output" } ] }]
            """);
        var read = SettingsRead(declared).ToList();
        Assert.Contains(("Nightly", "NIGHTLY_SCHEDULE", false), read);
        Assert.Contains(("Nightly", "QUEUE_NAME", false), read);
        Assert.Contains(("Nightly", "Output", true), read);
        Assert.Single(read, r => r.Setting == HostStorage); // the timer's; the queue trigger names its own connection
        Assert.False(Defines(["NIGHTLY_SCHEDULE__x"], "NIGHTLY_SCHEDULE", isConnection: false));
        Assert.True(Defines(["Output__accountName"], "Output", isConnection: true));
        Assert.False(Defines(["OutputX"], "Output", isConnection: true));
    }

    [Fact]
    public void Timer_schedules_are_six_field_NCRONTAB_expressions_with_the_intended_period()
    {
        var timers = FunctionsMetadata.All.Where(f => f.Timer is not null).ToDictionary(f => f.Name, f => Resolve(f.Timer!.Schedule!), StringComparer.Ordinal);
        Assert.Equal(TimerPeriods.Keys.Order(), timers.Keys.Order());
        var day = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        foreach (var (name, schedule) in timers)
        {
            // The Functions host parses schedules with NCrontab, seconds first: six fields.
            Assert.True(schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6, $"{name}: '{schedule}' is not six fields");
            var cron = CrontabSchedule.Parse(schedule, new CrontabSchedule.ParseOptions { IncludingSeconds = true });
            var period = TimerPeriods[name];
            var firings = cron.GetNextOccurrences(day.AddTicks(-1), day.AddDays(1)).ToList();
            Assert.True(firings.Count == (int)(TimeSpan.FromDays(1) / period), $"{name}: '{schedule}' fires {firings.Count} times a day, expected every {period}");
            Assert.Equal(day, firings[0]); // on the boundary (second 0 of a whole period), not somewhere inside it
            Assert.All(firings.Zip(firings.Skip(1)), p => Assert.Equal(period, p.Second - p.First));
        }
    }

    /// <summary>Every setting the bindings of <paramref name="functions"/> read, and whether it names a connection.</summary>
    private static IEnumerable<(string Function, string Setting, bool IsConnection)> SettingsRead(IEnumerable<FunctionDeclaration> functions)
    {
        foreach (var function in functions)
        {
            foreach (var binding in function.Bindings)
            {
                foreach (var value in binding.Properties.Values)
                    foreach (var setting in DeploymentFiles.AppSettingReferences(value)) yield return (function.Name, setting, false);
                var connections = ConnectionProperties.Where(binding.Properties.ContainsKey).Select(p => binding.Properties[p]).ToList();
                foreach (var connection in connections) yield return (function.Name, connection, true);
                if (connections.Count == 0 && HostStorageBindings.Contains(binding.Type))
                    yield return (function.Name, HostStorage, true);
            }
        }
    }

    private static bool Defines(IReadOnlyCollection<string> names, string setting, bool isConnection) =>
        names.Contains(setting) || (isConnection && names.Any(n => n.StartsWith(setting + "__", StringComparison.Ordinal)));

    /// <summary>A schedule as the host reads it: a %Name% stands for the setting's value (as func start would take it).</summary>
    private static string Resolve(string schedule) =>
        DeploymentFiles.AppSettingReferences(schedule).Aggregate(schedule, (s, name) => s.Replace($"%{name}%", DeploymentFiles.LocalSettings()[name], StringComparison.Ordinal));
}
