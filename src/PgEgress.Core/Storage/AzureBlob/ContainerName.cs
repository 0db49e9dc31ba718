namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>Azure's container naming rules, checked at configuration time rather than at the first request.</summary>
internal static class ContainerName
{
    /// <summary>Why <paramref name="name"/> is not a valid container name, or null when it is.</summary>
    public static string? Problem(string name)
    {
        if (name.Length is < 3 or > 63)
        {
            return "it must be 3 to 63 characters long";
        }

        if (!name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
        {
            return "it may contain only lowercase letters, digits and hyphens";
        }

        if (name[0] == '-' || name[^1] == '-')
        {
            return "it must start and end with a letter or a digit";
        }

        return name.Contains("--", StringComparison.Ordinal) ? "it may not contain consecutive hyphens" : null;
    }
}
