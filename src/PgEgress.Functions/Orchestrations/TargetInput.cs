using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgEgress.Functions.Orchestrations;

/// <summary>
/// The input of the reload orchestration (the pipeline) and of a sink's (the sink), handed on unchanged by every
/// generation. Missing timings (null) are the settings' defaults. Instances started before the timings existed have
/// the bare name as their input, which reads as a <see cref="TargetInput"/> with no timings.
/// </summary>
/// <param name="IdleDelay">The pause after a generation that found nothing to do.</param>
[JsonConverter(typeof(TargetInputConverter))]
public sealed record TargetInput(string Target, TimeSpan? IdleDelay = null, DurableTiming? Timing = null);

internal sealed class TargetInputConverter : JsonConverter<TargetInput>
{
    /// <summary>The object form, without the converter (which would otherwise call itself).</summary>
    private sealed record Fields(string Target, TimeSpan? IdleDelay, DurableTiming? Timing);

    public override TargetInput? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String) return new TargetInput(reader.GetString()!);
        var fields = JsonSerializer.Deserialize<Fields>(ref reader, options) ?? throw new JsonException($"{nameof(TargetInput)} is null");
        return new TargetInput(fields.Target, fields.IdleDelay, fields.Timing);
    }

    public override void Write(Utf8JsonWriter writer, TargetInput value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, new Fields(value.Target, value.IdleDelay, value.Timing), options);
}
