using PgEgress.Core.Reload;

namespace PgEgress.Tests.Reload;

/// <summary>Records every progress report as it is made (Progress&lt;T&gt; would post them later, out of order).</summary>
internal sealed class ExportProgressLog(Action<ExportProgress>? onReport = null) : IProgress<ExportProgress>
{
    private readonly List<ExportProgress> _reports = [];

    public List<ExportProgress> Reports
    {
        get
        {
            lock (_reports) return [.. _reports];
        }
    }

    public void Report(ExportProgress value)
    {
        lock (_reports) _reports.Add(value);
        onReport?.Invoke(value);
    }
}
