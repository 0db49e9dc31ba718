using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PgEgress.Testing;

namespace PgEgress.Tests.Functions;

/// <summary>An HTTP trigger as declared: its authorization level, methods (upper case) and route (no prefix).</summary>
internal sealed record HttpTriggerDeclaration(string AuthLevel, IReadOnlyList<string> Methods, string Route);

/// <summary>A [Function] method of the Functions app and its trigger.</summary>
internal sealed record FunctionDeclaration(string Name, string Location, string Trigger, HttpTriggerDeclaration? Http, string? Schedule);

/// <summary>
/// The Functions app's declarations, read from its source with Roslyn's parser: the project cannot be built here (its
/// packages do not restore), so the tests read what it declares. Anything the reader cannot read for certain (a route
/// in a constant, a methods array) fails the reading rather than being guessed.
/// </summary>
internal static class FunctionsSource
{
    public static string ProjectDirectory => Path.Combine(RepositoryRoot.Path, "src", "PgEgress.Functions");

    public static IReadOnlyList<string> Files()
    {
        var bin = Path.Combine(ProjectDirectory, "bin") + Path.DirectorySeparatorChar;
        var obj = Path.Combine(ProjectDirectory, "obj") + Path.DirectorySeparatorChar;
        return [.. Directory.EnumerateFiles(ProjectDirectory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.StartsWith(bin, StringComparison.Ordinal) && !f.StartsWith(obj, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)];
    }

    public static IReadOnlyList<FunctionDeclaration> Functions() =>
        [.. Files().SelectMany(file => Read(Path.GetRelativePath(RepositoryRoot.Path, file), File.ReadAllText(file)))];

    /// <summary>The functions declared in one source text.</summary>
    public static IEnumerable<FunctionDeclaration> Read(string path, string source)
    {
        var root = CSharpSyntaxTree.ParseText(source, path: path).GetRoot();
        var parseErrors = root.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (parseErrors.Count > 0) throw new InvalidDataException($"{path} does not parse: {string.Join("; ", parseErrors)}");

        foreach (var method in root.DescendantNodes().OfType<MethodDeclarationSyntax>())
        {
            var function = Attributes(method.AttributeLists).SingleOrDefault(a => NameOf(a) == "Function");
            if (function is null) continue;
            var where = $"{path}:{method.GetLocation().GetLineSpan().StartLinePosition.Line + 1}";
            var name = Text(Positional(function).FirstOrDefault() ?? throw new InvalidDataException($"{where}: [Function] has no name"), where);

            var triggers = method.ParameterList.Parameters
                .SelectMany(p => Attributes(p.AttributeLists))
                .Where(a => NameOf(a).EndsWith("Trigger", StringComparison.Ordinal))
                .ToList();
            if (triggers.Count != 1) throw new InvalidDataException($"{where}: function {name} has {triggers.Count} trigger parameters; a function has exactly one");
            var trigger = triggers[0];
            var kind = NameOf(trigger);
            yield return kind switch
            {
                "HttpTrigger" => new FunctionDeclaration(name, where, kind, ReadHttpTrigger(trigger, name, where), null),
                "TimerTrigger" => new FunctionDeclaration(name, where, kind, null,
                    Text(Positional(trigger).FirstOrDefault() ?? throw new InvalidDataException($"{where}: [TimerTrigger] has no schedule"), where)),
                _ => new FunctionDeclaration(name, where, kind, null, null),
            };
        }
    }

    /// <summary>
    /// HttpTriggerAttribute's constructors: () is Function level; (params string[] methods) is Anonymous (the level is
    /// never set: shared/reference/azure-functions.md, gotcha #2); (level) and (level, params methods). No methods: any.
    /// </summary>
    private static HttpTriggerDeclaration ReadHttpTrigger(AttributeSyntax trigger, string functionName, string where)
    {
        var positional = Positional(trigger).ToList();
        string level;
        IEnumerable<ExpressionSyntax> methods;
        if (positional.Count == 0)
        {
            level = "Function";
            methods = [];
        }
        else if (positional[0] is MemberAccessExpressionSyntax { Expression: var type, Name: var member } && type.ToString().EndsWith("AuthorizationLevel", StringComparison.Ordinal))
        {
            level = member.Identifier.ValueText;
            methods = positional.Skip(1);
        }
        else
        {
            level = "Anonymous";
            methods = positional;
        }

        string? route = null;
        foreach (var named in trigger.ArgumentList?.Arguments.Where(a => a.NameEquals is not null) ?? [])
        {
            switch (named.NameEquals!.Name.Identifier.ValueText)
            {
                case "Route":
                    route = Text(named.Expression, where);
                    break;
                case "AuthLevel" when named.Expression is MemberAccessExpressionSyntax m:
                    level = m.Name.Identifier.ValueText;
                    break;
                default:
                    throw new InvalidDataException($"{where}: the tests cannot read [HttpTrigger(… {named})]; use (AuthorizationLevel.X, \"method\", Route = \"…\")");
            }
        }
        var verbs = methods.Select(m => Text(m, where).ToUpperInvariant()).ToList();
        return new HttpTriggerDeclaration(level, verbs.Count == 0 ? ["*"] : verbs, route ?? functionName);
    }

    private static IEnumerable<AttributeSyntax> Attributes(SyntaxList<AttributeListSyntax> lists) => lists.SelectMany(l => l.Attributes);

    private static IEnumerable<ExpressionSyntax> Positional(AttributeSyntax attribute) =>
        attribute.ArgumentList?.Arguments.Where(a => a.NameEquals is null && a.NameColon is null).Select(a => a.Expression) ?? [];

    private static string NameOf(AttributeSyntax attribute)
    {
        var name = attribute.Name switch
        {
            QualifiedNameSyntax q => q.Right.Identifier.ValueText,
            AliasQualifiedNameSyntax a => a.Name.Identifier.ValueText,
            SimpleNameSyntax s => s.Identifier.ValueText,
            var other => other.ToString(),
        };
        return name.EndsWith("Attribute", StringComparison.Ordinal) ? name[..^"Attribute".Length] : name;
    }

    /// <summary>A string literal, or nameof(X) / nameof(A.B.X) (= "X"); anything else cannot be read for certain.</summary>
    private static string Text(ExpressionSyntax expression, string where) => expression switch
    {
        LiteralExpressionSyntax literal when literal.IsKind(SyntaxKind.StringLiteralExpression) => literal.Token.ValueText,
        InvocationExpressionSyntax { Expression: IdentifierNameSyntax { Identifier.ValueText: "nameof" }, ArgumentList.Arguments: [var argument] } =>
            argument.Expression switch
            {
                MemberAccessExpressionSyntax m => m.Name.Identifier.ValueText,
                SimpleNameSyntax s => s.Identifier.ValueText,
                var other => throw new InvalidDataException($"{where}: cannot read nameof({other})"),
            },
        _ => throw new InvalidDataException($"{where}: '{expression}' must be a string literal or nameof(…) so that the tests can read it"),
    };
}
