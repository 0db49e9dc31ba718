using PgEgress.Core.Configuration;

namespace PgEgress.Core.Verification;

/// <summary>
/// When scheduled verifications are due (Health:VerifyInterval, off at zero): a table is due once its last
/// verification was requested an interval ago (or never), and only inside the UTC window
/// [VerifyWindowStart, VerifyWindowEnd) — one that spans midnight when the end is before the start, all day when equal.
/// </summary>
public sealed class VerifySchedule(HealthOptions health)
{
    public bool Enabled => health.VerifyInterval > TimeSpan.Zero;

    public bool InWindow(DateTime utcNow)
    {
        var (start, end, t) = (health.VerifyWindowStart, health.VerifyWindowEnd, utcNow.TimeOfDay);
        if (start == end) return true;
        return start < end ? t >= start && t < end : t >= start || t < end;
    }

    /// <summary>The tables to request a verification for now, given each table's last request time (absent: never verified).</summary>
    public List<string> Due(DateTime utcNow, IEnumerable<string> tables, IReadOnlyDictionary<string, DateTime> lastRequested)
    {
        if (!Enabled || !InWindow(utcNow)) return [];
        return [.. tables.Where(t => !lastRequested.TryGetValue(t, out var last) || utcNow - last >= health.VerifyInterval)];
    }
}
