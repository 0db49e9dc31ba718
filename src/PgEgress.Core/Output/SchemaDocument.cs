using PgEgress.Core.Staging;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace PgEgress.Core.Output;

/// <summary>The schema.yml of a batch folder: the table's columns as the rows in the batch have them, and the LSN range.</summary>
public sealed class SchemaDocument
{
    public string Table { get; init; } = "";
    public int SchemaVersion { get; init; }
    public string ReplicaIdentity { get; init; } = "";
    public string StartLsn { get; init; } = "";
    public string EndLsn { get; init; } = "";
    public List<string> MetadataColumns { get; init; } = [];
    public List<SchemaColumn> Columns { get; init; } = [];

    public sealed class SchemaColumn
    {
        public string Name { get; init; } = "";
        public string Type { get; init; } = "";
        public bool Nullable { get; init; }
        public bool Key { get; init; }
    }

    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance).Build();

    private static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance).Build();

    public static SchemaDocument For(RelationSchema relation, int schemaVersion, ulong startLsn, ulong endLsn) => new()
    {
        Table = relation.QualifiedName,
        SchemaVersion = schemaVersion,
        ReplicaIdentity = relation.ReplicaIdentity switch { 'f' => "full", 'i' => "index", 'n' => "nothing", _ => "default" },
        StartLsn = PgText.Lsn(startLsn),
        EndLsn = PgText.Lsn(endLsn),
        MetadataColumns = [.. CsvPartWriter.MetadataColumns],
        Columns = [.. relation.Columns.Select(c => new SchemaColumn { Name = c.Name, Type = c.TypeName, Nullable = c.Nullable, Key = c.IsKey })],
    };

    public string ToYaml() => Serializer.Serialize(this);

    public static SchemaDocument Parse(string yaml) => Deserializer.Deserialize<SchemaDocument>(yaml);
}
