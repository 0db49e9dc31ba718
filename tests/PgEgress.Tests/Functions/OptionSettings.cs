using System.Collections;
using System.Reflection;
using PgEgress.Core.Configuration;

namespace PgEgress.Tests.Functions;

/// <summary>One setting the app reads, as an app setting name (PgEgress__Section__Key); a list takes __0, __1, ….</summary>
internal sealed record OptionSetting(string Name, bool IsList)
{
    /// <summary>Whether an app setting name sets this setting: the name itself, or for a list an element (Name__N).</summary>
    public bool IsSetBy(string appSetting) =>
        string.Equals(appSetting, Name, StringComparison.OrdinalIgnoreCase)
        || (IsList && appSetting.StartsWith(Name + "__", StringComparison.OrdinalIgnoreCase)
            && appSetting[(Name.Length + 2)..] is var index && (index.All(char.IsAsciiDigit) || index == OptionSettings.IndexPlaceholder));
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
            else if (typeof(IEnumerable).IsAssignableFrom(t)) yield return new OptionSetting(name, true);
            else if (t.IsClass) foreach (var leaf in Leaves(t, name)) yield return leaf;
            else throw new NotSupportedException($"{name}: {t} is neither a value, a list nor a section");
        }
    }

    private static bool IsScalar(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTime)
        || t == typeof(DateTimeOffset) || t == typeof(Guid) || t == typeof(Uri);
}
