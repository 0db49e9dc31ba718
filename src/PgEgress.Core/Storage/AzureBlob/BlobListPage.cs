using System.Xml;
using System.Xml.Linq;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>One page of a List Blobs response: the blob names, and the marker of the next page (null at the end).</summary>
internal sealed record BlobListPage(IReadOnlyList<string> Names, string? NextMarker)
{
    public static async Task<BlobListPage> ParseAsync(Stream xml, CancellationToken ct)
    {
        using var reader = XmlReader.Create(xml, new XmlReaderSettings { Async = true, DtdProcessing = DtdProcessing.Prohibit });
        var root = (await XDocument.LoadAsync(reader, LoadOptions.None, ct)).Root
            ?? throw new InvalidDataException("List Blobs returned an empty document.");
        var names = root.Element("Blobs")?.Elements("Blob").Select(NameOf).ToList() ?? [];
        var next = root.Element("NextMarker")?.Value;
        return new BlobListPage(names, string.IsNullOrEmpty(next) ? null : next);
    }

    private static string NameOf(XElement blob)
    {
        var name = blob.Element("Name") ?? throw new InvalidDataException("List Blobs returned a Blob without a Name.");
        // Names holding characters XML cannot carry come percent-encoded, flagged Encoded="true".
        return (string?)name.Attribute("Encoded") == "true" ? Uri.UnescapeDataString(name.Value) : name.Value;
    }
}
