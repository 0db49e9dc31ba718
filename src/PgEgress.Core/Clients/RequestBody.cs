namespace PgEgress.Core.Clients;

/// <summary>Reads a small JSON request body whole, refusing one past <see cref="MaxBytes"/> so a request cannot fill memory.</summary>
public static class RequestBody
{
    public const int MaxBytes = 64 << 10;

    /// <returns>The body, or null when it is longer than <see cref="MaxBytes"/>.</returns>
    public static async Task<byte[]?> ReadAsync(Stream body, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > MaxBytes) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }
}
