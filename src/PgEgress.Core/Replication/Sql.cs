namespace PgEgress.Core.Replication;

/// <summary>Quoting for the few statements whose identifiers cannot be bind parameters (publication and slot DDL).</summary>
public static class Sql
{
    public static string Ident(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    /// <summary>A slot name as PostgreSQL accepts it: lower-case letters, digits and underscores, at most 63.</summary>
    public static bool IsValidSlotName(string name) =>
        name.Length is > 0 and <= 63 && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_');
}
