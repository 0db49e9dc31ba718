using System.Collections;
using System.Reflection;
using PgEgress.Core.Configuration;

namespace PgEgress.Functions.Tests.Settings;

/// <summary>
/// One setting the app reads, as an app setting name (PgEgress__Section__Key); a list takes __0, __1, …; a named entry
/// of a map (PgEgress__Sinks__{name}__Key) has <see cref="OptionSettings.IndexPlaceholder"/> where the name goes.
/// </summary>
internal sealed record OptionSetting(string Name, bool IsList)
{
    /// <summary>
    /// Whether an app setting name sets this setting: the name itself, or for a list an element (Name__N). A map entry's
    /// name matches any entry name; a computed name ({i}) in its place, or as the whole rest, stands for any.
    /// </summary>
    public bool IsSetBy(string appSetting)
    {
        var want = Name.Split("__");
        var got = appSetting.Split("__");
        if (IsList && got.Length == want.Length + 1 && (got[^1].All(char.IsAsciiDigit) || got[^1] == OptionSettings.IndexPlaceholder)) got = got[..^1];
        return got.Length == want.Length && want.Zip(got).All(p =>
            (p.First == OptionSettings.IndexPlaceholder && p.Second.Length > 0)
            || p.Second == OptionSettings.IndexPlaceholder
            || string.Equals(p.First, p.Second, StringComparison.OrdinalIgnoreCase));
    }
}

/// <summary>Every leaf setting of <see cref="PgEgressOptions"/>, found by reflection, so a new option is covered the day it is added.</summary>
internal static class OptionSettings
{
    /// <summary>What a computed list index (Bicep's ${i}) is read as.</summary>
    public const string IndexPlaceholder = "{i}";

    public static IReadOnlyList<OptionSetting> All { get; } = [.. Leaves(typeof(PgEgressOptions), PgEgressOptions.SectionName)];

    private static IEnumerable<OptionSetting> Leaves(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.CanWrite))
        {
            var name = $"{prefix}__{property.Name}";
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (IsScalar(t)) yield return new OptionSetting(name, false);
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>))
                foreach (var leaf in Leaves(t.GetGenericArguments()[1], $"{name}__{IndexPlaceholder}")) yield return leaf;
            else if (typeof(IEnumerable).IsAssignableFrom(t)) yield return new OptionSetting(name, true);
            else if (t.IsClass) foreach (var leaf in Leaves(t, name)) yield return leaf;
            else throw new NotSupportedException($"{name}: {t} is neither a value, a list nor a section");
        }
    }

    private static bool IsScalar(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTime)
        || t == typeof(DateTimeOffset) || t == typeof(Guid) || t == typeof(Uri);
}
