using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace PgEgress.Tests.Verification;

/// <summary>
/// A batch folder's schema.yml read as plain YAML, the way a loader in another language would read it: the documented
/// key names are spelled out here, not taken from the product's serializer, so renaming a key fails the suite.
/// </summary>
public sealed record SchemaYaml(string Table, int SchemaVersion, string ReplicaIdentity, string StartLsn, string EndLsn,
    IReadOnlyList<string> MetadataColumns, IReadOnlyList<SchemaYaml.Column> Columns)
{
    public sealed record Column(string Name, string Type, bool Nullable, bool Key);

    public static SchemaYaml Parse(string yaml, string path)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(yaml)) stream.Load(reader);
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new InvalidDataException($"{path}: expected one YAML document with a mapping at its root");

        var columns = Sequence(root, "columns", path).Select(node =>
        {
            var column = node as YamlMappingNode ?? throw new InvalidDataException($"{path}: an entry of columns is not a mapping");
            return new Column(Scalar(column, "name", path), Scalar(column, "type", path),
                Bool(column, "nullable", path), Bool(column, "key", path));
        }).ToList();
        return new SchemaYaml(
            Scalar(root, "table", path),
            int.Parse(Scalar(root, "schema_version", path), CultureInfo.InvariantCulture),
            Scalar(root, "replica_identity", path),
            Scalar(root, "start_lsn", path),
            Scalar(root, "end_lsn", path),
            Sequence(root, "metadata_columns", path).Select(n => (n as YamlScalarNode)?.Value
                ?? throw new InvalidDataException($"{path}: an entry of metadata_columns is not a string")).ToList(),
            columns);
    }

    private static YamlNode Node(YamlMappingNode map, string key, string path) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node
            : throw new InvalidDataException($"{path}: no '{key}' key (keys: {string.Join(", ", map.Children.Keys)})");

    private static string Scalar(YamlMappingNode map, string key, string path) =>
        (Node(map, key, path) as YamlScalarNode)?.Value ?? throw new InvalidDataException($"{path}: '{key}' is not a scalar");

    private static bool Bool(YamlMappingNode map, string key, string path) => Scalar(map, key, path) switch
    {
        "true" => true,
        "false" => false,
        var other => throw new InvalidDataException($"{path}: '{key}' is '{other}', not true or false"),
    };

    private static IEnumerable<YamlNode> Sequence(YamlMappingNode map, string key, string path) =>
        Node(map, key, path) as YamlSequenceNode ?? throw new InvalidDataException($"{path}: '{key}' is not a list");
}
