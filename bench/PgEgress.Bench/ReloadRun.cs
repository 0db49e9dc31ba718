namespace PgEgress.Bench;

/// <summary>One timed export of the table by one contender.</summary>
/// <param name="Elapsed">Wall clock from the start (psql's connection; PgEgress's slot creation) until the gzip file is complete.</param>
/// <param name="OutputBytes">Size of the gzip file.</param>
/// <param name="CsvBytes">Size of the CSV it holds (PgEgress's has the six metadata columns more).</param>
/// <param name="ClientCpu">CPU (user + system) of the client side: psql and gzip, or this process during the PgEgress run.</param>
/// <param name="PeakRss">PgEgress only: peak resident set of the bench process during the run (VmHWM, reset before it).</param>
public sealed record ReloadRun(string Contender, int Run, TimeSpan Elapsed, long Rows, long OutputBytes, long CsvBytes, TimeSpan ClientCpu, long? PeakRss = null);
