namespace PgEgress.Core.Verification;

/// <summary>Bucket prefixes of any lengths; a key hash is in the set when one of them starts it (one lookup per length).</summary>
public sealed class PrefixSet(IEnumerable<string> prefixes)
{
    private readonly Dictionary<int, HashSet<string>> _byLength = prefixes.GroupBy(p => p.Length)
        .ToDictionary(g => g.Key, g => g.ToHashSet(StringComparer.Ordinal));

    public bool Contains(string keyHash) => _byLength.Any(l => l.Key <= keyHash.Length && l.Value.Contains(keyHash[..l.Key]));

    /// <summary>A SQL condition on the key hash column <paramref name="column"/>, with one text[] parameter per length, numbered from <paramref name="firstParameter"/>.</summary>
    public (string Sql, List<string[]> Parameters) Sql(string column, int firstParameter)
    {
        var parts = new List<string>();
        var parameters = new List<string[]>();
        foreach (var (length, set) in _byLength)
        {
            parts.Add($"substr({column}, 1, {length}) = ANY(${firstParameter + parameters.Count})");
            parameters.Add([.. set]);
        }
        return (parts.Count == 0 ? "false" : "(" + string.Join(" OR ", parts) + ")", parameters);
    }
}
