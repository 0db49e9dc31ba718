namespace PgEgress.Core.Domain;

/// <summary>
/// The keywords that PostgreSQL's <c>quote_ident</c> quotes: every category but unreserved
/// (<c>SELECT word FROM pg_get_keywords() WHERE catcode &lt;&gt; 'U'</c> on PostgreSQL 15). A fixed list, so the
/// registry's key of a table is the same whatever server version computes it; the registry's SQL uses the same list.
/// </summary>
public static class SqlKeywords
{
    public static readonly IReadOnlySet<string> NeedQuoting = new HashSet<string>(
        """
        all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast
        char character check coalesce collate collation column concurrently constraint create cross current_catalog
        current_date current_role current_schema current_time current_timestamp current_user dec decimal default deferrable
        desc distinct do else end except exists extract false fetch float for foreign freeze from full grant greatest group
        grouping having ilike in initially inner inout int integer intersect interval into is isnull join lateral leading
        least left like limit localtime localtimestamp national natural nchar none normalize not notnull null nullif numeric
        offset on only or order out outer overlaps overlay placing position precision primary real references returning
        right row select session_user setof similar smallint some substring symmetric table tablesample then time timestamp
        to trailing treat trim true union unique user using values varchar variadic verbose when where window with
        xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
        """.Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries),
        StringComparer.Ordinal);
}
