namespace PgEgress.Core.Verification;

/// <summary>A registered file the replay applies: a full_reload, a streaming file or a repair, in the contract's order.</summary>
public sealed record ReplayFile(string Path, string FileType, ulong StartLsn, ulong EndLsn);
