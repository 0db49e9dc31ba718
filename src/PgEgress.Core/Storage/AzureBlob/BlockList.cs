using System.Security.Cryptography;
using System.Text;
using System.Xml;

namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// The blocks of one block upload. Ids are base64 of a fixed-width ASCII string, "{upload nonce}-{counter}":
/// the service requires every id of a blob to have the same length, and the per-upload nonce keeps two
/// concurrent uploads of the same path (a replay racing the original) from committing each other's blocks.
/// </summary>
internal sealed class BlockList
{
    /// <summary>The service's limit on the blocks of one blob.</summary>
    public const int MaxBlocks = 50_000;

    private readonly string _nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private readonly List<string> _ids = [];

    /// <summary>Appends a block and returns its id, to upload it under.</summary>
    public string Add()
    {
        if (_ids.Count == MaxBlocks)
        {
            throw new InvalidOperationException($"The object needs more than {MaxBlocks} blocks, the most one blob can have.");
        }

        var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{_nonce}-{_ids.Count:D7}"));
        _ids.Add(id);
        return id;
    }

    /// <summary>The Put Block List body: every block, in order, from the uncommitted ("Latest") list.</summary>
    public byte[] ToXml()
    {
        using var buffer = new MemoryStream();
        using (var writer = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false) }))
        {
            writer.WriteStartElement("BlockList");
            foreach (var id in _ids)
            {
                writer.WriteElementString("Latest", id);
            }

            writer.WriteEndElement();
        }

        return buffer.ToArray();
    }
}
