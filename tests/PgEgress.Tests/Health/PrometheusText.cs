using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PgEgress.Tests.Health;

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4 (prometheus/docs
/// content/docs/instrumenting/exposition_formats.md), written for the tests from the format's grammar, not from the
/// product: no .NET package restored here parses it (prometheus-net only writes). Anything off the grammar throws:
/// bad metric or label names, unescaped label values, a TYPE after its samples or twice, an unknown type, samples of a
/// histogram without _bucket/_sum/_count or buckets without le and the +Inf bucket.
/// </summary>
internal static partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public sealed record Family(string Name, string Type, string? Help, List<Sample> Samples);

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    public static Dictionary<string, Family> Parse(string text)
    {
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            try
            {
                if (line.StartsWith('#')) Comment(line, families);
                else Add(ReadSample(line), families);
            }
            catch (FormatException e)
            {
                throw new FormatException($"line {lineNo}: {e.Message}: {line}", e);
            }
        }
        foreach (var f in families.Values.Where(f => f.Type == "histogram")) CheckHistogram(f);
        return families;
    }

    private static void Comment(string line, Dictionary<string, Family> families)
    {
        var parts = line[1..].TrimStart().Split(' ', 3);
        if (parts[0] is not ("HELP" or "TYPE") || parts.Length < 2) return; // any other comment is ignored
        var name = parts[1];
        if (!MetricName().IsMatch(name)) throw new FormatException($"bad metric name '{name}'");
        if (parts[0] == "TYPE")
        {
            var type = parts.Length > 2 ? parts[2].Trim() : throw new FormatException("TYPE without a type");
            if (!Types.Contains(type)) throw new FormatException($"unknown type '{type}'");
            if (families.TryGetValue(name, out var f))
            {
                if (f.Type != "untyped" || f.Samples.Count > 0) throw new FormatException($"TYPE for {name} twice or after its samples");
                families[name] = f with { Type = type };
            }
            else families[name] = new Family(name, type, null, []);
        }
        else
        {
            var help = parts.Length > 2 ? Unescape(parts[2]) : "";
            families[name] = families.TryGetValue(name, out var f) ? f with { Help = help } : new Family(name, "untyped", help, []);
        }
    }

    private static void Add(Sample s, Dictionary<string, Family> families)
    {
        // A histogram's or summary's samples carry suffixes of the family's name.
        var family = families.Values.FirstOrDefault(f => f.Name == s.Name)
            ?? families.Values.FirstOrDefault(f => f.Type is "histogram" or "summary" && (s.Name == f.Name + "_sum" || s.Name == f.Name + "_count" || (f.Type == "histogram" && s.Name == f.Name + "_bucket")));
        if (family is null) families[s.Name] = family = new Family(s.Name, "untyped", null, []);
        if (family.Type is "histogram" && s.Name == family.Name) throw new FormatException($"histogram {family.Name} has a sample without a suffix");
        family.Samples.Add(s);
    }

    private static Sample ReadSample(string line)
    {
        var i = 0;
        while (i < line.Length && line[i] is not ('{' or ' ' or '\t')) i++;
        var name = line[..i];
        if (!MetricName().IsMatch(name)) throw new FormatException($"bad metric name '{name}'");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                SkipBlanks(line, ref i);
                if (i < line.Length && line[i] == '}') { i++; break; }
                var start = i;
                while (i < line.Length && line[i] is not ('=' or ' ' or '\t')) i++;
                var label = line[start..i];
                if (!LabelName().IsMatch(label)) throw new FormatException($"bad label name '{label}'");
                SkipBlanks(line, ref i);
                if (i >= line.Length || line[i] != '=') throw new FormatException($"'=' expected after label {label}");
                i++;
                SkipBlanks(line, ref i);
                if (i >= line.Length || line[i] != '"') throw new FormatException($"quoted value expected for label {label}");
                i++;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= line.Length) throw new FormatException($"unterminated value of label {label}");
                    var c = line[i++];
                    if (c == '"') break;
                    if (c == '\\')
                    {
                        if (i >= line.Length) throw new FormatException("dangling backslash");
                        value.Append(line[i++] switch { '\\' => '\\', '"' => '"', 'n' => '\n', var x => throw new FormatException($"bad escape \\{x}") });
                    }
                    else value.Append(c);
                }
                if (!labels.TryAdd(label, value.ToString())) throw new FormatException($"label {label} twice");
                SkipBlanks(line, ref i);
                if (i < line.Length && line[i] == ',') i++;
                else if (i >= line.Length || line[i] != '}') throw new FormatException("',' or '}' expected");
            }
        }
        var rest = line[i..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2) throw new FormatException("a value and an optional timestamp expected");
        if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            throw new FormatException($"bad timestamp '{rest[1]}'");
        return new Sample(name, labels, Value(rest[0]));
    }

    private static double Value(string s) => s switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new FormatException($"bad value '{s}'"),
    };

    private static void CheckHistogram(Family f)
    {
        foreach (var series in f.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))))
        {
            var buckets = series.Where(s => s.Name == f.Name + "_bucket").ToList();
            if (buckets.Any(b => !b.Labels.ContainsKey("le"))) throw new FormatException($"{f.Name}: a bucket without le");
            if (!buckets.Any(b => b.Labels["le"] == "+Inf")) throw new FormatException($"{f.Name}{{{series.Key}}}: no +Inf bucket");
            var count = series.SingleOrDefault(s => s.Name == f.Name + "_count") ?? throw new FormatException($"{f.Name}{{{series.Key}}}: no _count");
            if (series.All(s => s.Name != f.Name + "_sum")) throw new FormatException($"{f.Name}{{{series.Key}}}: no _sum");
            var ordered = buckets.Select(b => (Le: Value(b.Labels["le"]), b.Value)).OrderBy(b => b.Le).ToList();
            for (var k = 1; k < ordered.Count; k++)
                if (ordered[k].Value < ordered[k - 1].Value) throw new FormatException($"{f.Name}: buckets are not cumulative");
            if (ordered[^1].Value != count.Value) throw new FormatException($"{f.Name}: the +Inf bucket differs from _count");
        }
    }

    /// <summary>HELP text escapes only backslash and line feed.</summary>
    private static string Unescape(string s)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\') sb.Append(s[i]);
            else if (++i < s.Length) sb.Append(s[i] switch { 'n' => '\n', '\\' => '\\', var x => throw new FormatException($"bad escape \\{x} in HELP") });
            else throw new FormatException("dangling backslash in HELP");
        }
        return sb.ToString();
    }

    private static void SkipBlanks(string line, ref int i)
    {
        while (i < line.Length && line[i] is ' ' or '\t') i++;
    }
}
