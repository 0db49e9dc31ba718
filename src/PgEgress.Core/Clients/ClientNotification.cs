namespace PgEgress.Core.Clients;

/// <summary>New changes for a client were staged: up to which offset, and how many of its changes and transactions (not the data).</summary>
public sealed record ClientNotification(string Client, string Offset, int Changes, int Transactions);
