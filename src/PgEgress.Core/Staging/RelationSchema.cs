using PgEgress.Core.Domain;

namespace PgEgress.Core.Staging;

/// <summary>A published table's shape as the stream described it, enriched from the catalog (type names, nullability, key).</summary>
public sealed record RelationSchema(uint RelationId, string Namespace, string Name, char ReplicaIdentity, IReadOnlyList<ColumnSchema> Columns)
{
    public TableName Table => new(Namespace, Name);

    /// <summary>The table in PostgreSQL's quoted form, as the registry names it.</summary>
    public string QualifiedName => Table.ToString();

    /// <summary>Identifies the shape of the rows: two relations with the same fingerprint produce interchangeable CSV.</summary>
    public string Fingerprint => string.Join(",", Columns.Select(c => $"{c.Name}:{c.TypeName}:{(c.IsKey ? "k" : "")}"));
}

/// <param name="IsKey">Part of the row's key: the primary key, else the replica-identity index, else every column.</param>
public sealed record ColumnSchema(string Name, uint TypeOid, int TypeModifier, string TypeName, bool Nullable, bool IsKey);
