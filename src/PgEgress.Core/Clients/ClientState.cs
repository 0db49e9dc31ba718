namespace PgEgress.Core.Clients;

/// <summary>A client's state as cdc_registry.clients.state and the API spell it. Only an active client has a cursor.</summary>
public static class ClientState
{
    public const string Active = "active";

    /// <summary>Not seen for its TTL: its cursor was released.</summary>
    public const string Expired = "expired";

    /// <summary>Fell behind Clients:MaxRetentionBytes or MaxRetentionAge: its cursor was released so staging stays bounded.</summary>
    public const string LaggingExpired = "lagging-expired";

    /// <summary>Ended by DELETE /api/clients/{id}.</summary>
    public const string Disconnected = "disconnected";
}
