namespace PgEgress.Core.Configuration;

/// <summary>Registered clients of the change feed (PgEgress:Clients:…): their default lease and how much staging they may hold.</summary>
public sealed class ClientsOptions
{
    /// <summary>A client not seen (ping or feed request) for this long is expired; a registration may ask for another TTL.</summary>
    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>A client whose cursor is more than this many staged bytes behind is marked lagging-expired. Zero: no cap.</summary>
    public long MaxRetentionBytes { get; set; }

    /// <summary>A client whose oldest unacknowledged staged segment is older than this is marked lagging-expired. Zero: no cap.</summary>
    public TimeSpan MaxRetentionAge { get; set; } = TimeSpan.FromDays(7);
}
