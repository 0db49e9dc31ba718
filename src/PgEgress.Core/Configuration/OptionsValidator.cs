using PgEgress.Core.Domain;
using System.Text;
using Npgsql;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Configuration;

/// <summary>Checks the configuration before anything starts; each problem is one sentence naming the setting.</summary>
public static class OptionsValidator
{
    /// <summary>PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes of the UTF-8 database encoding.</summary>
    private const int MaxNameBytes = 63;

    /// <summary>A shorter key can be guessed by trying; generate one (e.g. openssl rand -hex 16).</summary>
    private const int MinApiKeyLength = 16;

    /// <summary>Well under the Functions Premium default timeout (30 min), whatever host.json says.</summary>
    private static readonly TimeSpan MaxActivityBudget = TimeSpan.FromMinutes(10);

    /// <param name="own">Where this process's own API listens (the Host), so that no sink is aimed at it.</param>
    public static List<string> Validate(PgEgressOptions o, ListenAddresses? own = null)
    {
        var errors = new List<string>();
        const string s = PgEgressOptions.SectionName;

        if (string.IsNullOrWhiteSpace(o.Source.ConnectionString))
            errors.Add($"{s}:Source:ConnectionString is required (the source database's Npgsql connection string)");
        else
        {
            try
            {
                var b = new NpgsqlConnectionStringBuilder(o.Source.ConnectionString);
                if (string.IsNullOrEmpty(b.Host)) errors.Add($"{s}:Source:ConnectionString has no Host");
            }
            catch (ArgumentException e)
            {
                // Npgsql names the keyword it could not set. Name it only when Npgsql knows it (a bad value): an
                // unknown "keyword" may be the tail of a password that holds an unquoted ';'.
                var problem = e.ParamName is null ? e.Message
                    : new NpgsqlConnectionStringBuilder().ContainsKey(e.ParamName) ? $"the value of {e.ParamName} is invalid"
                    : "it has an unknown keyword (not shown: it may be part of a value with an unquoted ';'; enclose such values in double quotes)";
                errors.Add($"{s}:Source:ConnectionString is not a valid connection string: {problem}");
            }
        }
        if (string.IsNullOrWhiteSpace(o.Source.Publication) || Encoding.UTF8.GetByteCount(o.Source.Publication) > MaxNameBytes)
            errors.Add($"{s}:Source:Publication must be a name of 1 to {MaxNameBytes} bytes in UTF-8 (PostgreSQL cuts longer names)");
        else if (o.Source.Publication.Any(c => c is '"' or '\'' or '\\' || char.IsControl(c)))
            errors.Add($"{s}:Source:Publication must not contain double quotes, single quotes, backslashes or control characters (the replication command carries the name inside quotes)");
        if (!Sql.IsValidSlotName(o.Source.Slot))
            errors.Add($"{s}:Source:Slot '{o.Source.Slot}' is not a valid slot name (1 to 63 lower-case letters, digits or underscores)");
        foreach (var table in o.Source.Tables)
            if (!TableName.TryParse(table, out _, out var problem))
                errors.Add($"{s}:Source:Tables: {problem}");
        if (o.Source.Schemas.Any(string.IsNullOrWhiteSpace))
            errors.Add($"{s}:Source:Schemas has an empty entry");
        if (o.Source.Tables.Count > 0 && o.Source.Schemas.Count > 0)
            errors.Add($"{s}:Source:Tables and {s}:Source:Schemas cannot both be set; choose one");

        if (o.Batch.Interval < TimeSpan.FromSeconds(1) || o.Batch.Interval > TimeSpan.FromDays(1))
            errors.Add($"{s}:Batch:Interval must be between 00:00:01 and 1.00:00:00 (got {o.Batch.Interval})");
        if (o.Batch.MaxRowsPerFile < 1) errors.Add($"{s}:Batch:MaxRowsPerFile must be at least 1");
        if (o.Batch.MaxBytesPerFile < 1024) errors.Add($"{s}:Batch:MaxBytesPerFile must be at least 1024");

        if (o.Slice.MaxDuration <= TimeSpan.Zero) errors.Add($"{s}:Slice:MaxDuration must be positive");
        else if (o.Slice.MaxDuration > o.Batch.Interval)
            errors.Add($"{s}:Slice:MaxDuration ({o.Slice.MaxDuration}) must not be longer than {s}:Batch:Interval ({o.Batch.Interval}): a window would wait for a slice to end");
        if (o.Slice.MaxBytes < 1) errors.Add($"{s}:Slice:MaxBytes must be at least 1");
        if (o.Slice.MaxTransactions < 1) errors.Add($"{s}:Slice:MaxTransactions must be at least 1");
        if (o.Slice.QuietAfterCommit < TimeSpan.Zero || o.Slice.QuietAfterCommit >= o.Slice.MaxDuration)
            errors.Add($"{s}:Slice:QuietAfterCommit must be zero (off) or positive and shorter than {s}:Slice:MaxDuration (got {o.Slice.QuietAfterCommit})");
        // Longer than MaxDuration is allowed: that bound then ends every slice first.
        if (o.Api.MutatingRequestsPerMinute < 0)
            errors.Add($"{s}:Api:MutatingRequestsPerMinute must be 0 (no limit) or more (got {o.Api.MutatingRequestsPerMinute})");
        if (o.Slice.MaxLatency <= TimeSpan.Zero) errors.Add($"{s}:Slice:MaxLatency must be positive (got {o.Slice.MaxLatency})");
        if (o.Slice.HeartbeatInterval <= TimeSpan.Zero) errors.Add($"{s}:Slice:HeartbeatInterval must be positive");
        if (o.Slice.ActivityBudget <= TimeSpan.Zero) errors.Add($"{s}:Slice:ActivityBudget must be positive");
        else if (o.Slice.ActivityBudget > MaxActivityBudget)
            errors.Add($"{s}:Slice:ActivityBudget must be at most {MaxActivityBudget} (got {o.Slice.ActivityBudget}): the ingest's status and a stop wait for the activity to end");

        if (o.Reload.Workers is < 1 or > 64) errors.Add($"{s}:Reload:Workers must be between 1 and 64 (got {o.Reload.Workers})");
        if (o.Reload.SplitAboveBytes < 1) errors.Add($"{s}:Reload:SplitAboveBytes must be at least 1");
        if (o.Reload.RangeBytes < 8192) errors.Add($"{s}:Reload:RangeBytes must be at least 8192 (one page)");

        if (o.Health.MaxLag < TimeSpan.Zero) errors.Add($"{s}:Health:MaxLag must not be negative (00:00:00 turns the check off)");
        if (o.Health.MaxLagBytes < 0) errors.Add($"{s}:Health:MaxLagBytes must not be negative (0 turns the check off)");
        if (!(o.Health.RepairMaxFraction is > 0 and <= 1)) errors.Add($"{s}:Health:RepairMaxFraction must be above 0 and at most 1");
        if (o.Health.VerifyInterval < TimeSpan.Zero) errors.Add($"{s}:Health:VerifyInterval must not be negative (00:00:00 turns scheduled verification off)");
        else if (o.Health.VerifyInterval > TimeSpan.Zero && o.Health.VerifyInterval < TimeSpan.FromMinutes(1))
            errors.Add($"{s}:Health:VerifyInterval must be at least 00:01:00 (each verification scans the table)");
        foreach (var (name, value) in new[] { ("VerifyWindowStart", o.Health.VerifyWindowStart), ("VerifyWindowEnd", o.Health.VerifyWindowEnd) })
            if (value < TimeSpan.Zero || value >= TimeSpan.FromDays(1)) errors.Add($"{s}:Health:{name} must be a UTC time of day, 00:00:00 to 23:59:59");
        if (o.Health.PermanentRetryMaxDelay < FailureClassifier.PermanentFirstDelay)
            errors.Add($"{s}:Health:PermanentRetryMaxDelay must be at least {FailureClassifier.PermanentFirstDelay} (the first pause after a permanent failure)");
        if (o.Clients.DefaultTtl < TimeSpan.FromSeconds(1) || o.Clients.DefaultTtl > TimeSpan.FromDays(365))
            errors.Add($"{s}:Clients:DefaultTtl must be between 00:00:01 and 365.00:00:00 (got {o.Clients.DefaultTtl})");
        if (o.Clients.MaxRetentionBytes < 0) errors.Add($"{s}:Clients:MaxRetentionBytes must not be negative (0 turns the cap off)");
        if (o.Clients.MaxRetentionAge < TimeSpan.Zero) errors.Add($"{s}:Clients:MaxRetentionAge must not be negative (00:00:00 turns the cap off)");
        ValidateDurable(o.Durable, errors);

        if (o.Api.Key.Length is > 0 and < MinApiKeyLength)
            errors.Add($"{s}:Api:Key must be at least {MinApiKeyLength} characters (or empty to refuse the mutating routes)");

        foreach (var (name, sink) in o.Sinks) SinkValidator.Validate(name, sink, own ?? ListenAddresses.None, errors);

        if (string.IsNullOrWhiteSpace(o.WorkDirectory)) errors.Add($"{s}:WorkDirectory must not be empty");
        return errors;
    }

    /// <summary>A durable timer or retry pause longer than this is a mistake (Durable timers cap at six days anyway).</summary>
    private static readonly TimeSpan MaxDurablePause = TimeSpan.FromHours(1);

    private static void ValidateDurable(DurableOptions d, List<string> errors)
    {
        const string s = PgEgressOptions.SectionName + ":Durable";
        if (d.RetryAttempts is < 1 or > 100) errors.Add($"{s}:RetryAttempts must be between 1 and 100 (got {d.RetryAttempts})");
        if (!double.IsFinite(d.RetryBackoffCoefficient) || d.RetryBackoffCoefficient is < 1 or > 10)
            errors.Add($"{s}:RetryBackoffCoefficient must be between 1 and 10 (got {d.RetryBackoffCoefficient})");
        Pause(d.RetryFirstInterval, "RetryFirstInterval");
        Pause(d.RetryMaxInterval, "RetryMaxInterval");
        if (d.RetryMaxInterval < d.RetryFirstInterval)
            errors.Add($"{s}:RetryMaxInterval ({d.RetryMaxInterval}) must not be shorter than {s}:RetryFirstInterval ({d.RetryFirstInterval})");
        Pause(d.FailureBackoff, "FailureBackoff");
        Pause(d.ReloadIdleDelay, "ReloadIdleDelay");
        Pause(d.SinkIdleDelay, "SinkIdleDelay");

        void Pause(TimeSpan value, string name)
        {
            if (value <= TimeSpan.Zero || value > MaxDurablePause)
                errors.Add($"{s}:{name} must be positive and at most {MaxDurablePause} (got {value})");
        }
    }
}
