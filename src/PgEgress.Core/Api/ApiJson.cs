using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace PgEgress.Core.Api;

/// <summary>How the API writes JSON, on every runtime: web defaults with snake_case names (<c>confirmed_flush_lsn</c>).</summary>
public static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        };
        options.MakeReadOnly();
        return options;
    }
}
