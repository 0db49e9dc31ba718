using System.Collections;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Sinks;

/// <summary>
/// The events of one transaction that need no more delivery, by seq (1-based). Workers finish them out of order, so
/// it is a set, kept as a bitmap with the length of the finished prefix alongside.
/// </summary>
public sealed class TransactionProgress
{
    private readonly BitArray _done = new(0);

    /// <summary>Every seq up to here is finished.</summary>
    private int _through;

    /// <summary>Something is finished: worth writing down.</summary>
    public bool Any => _done.Length > 0;

    public bool Contains(int seq) => seq <= _through || seq - 1 < _done.Length && _done[seq - 1];

    public void Add(int seq)
    {
        if (seq > _done.Length) _done.Length = Math.Max(seq, _done.Length * 2);
        _done[seq - 1] = true;
        while (_through < _done.Length && _done[_through]) _through++;
    }

    public static TransactionProgress From(PartialTransaction saved)
    {
        var progress = new TransactionProgress();
        for (var seq = 1; seq <= saved.Through; seq++) progress.Add(seq);
        for (var i = 0; i < saved.After.Length * 8; i++)
            if ((saved.After[i / 8] & (1 << (i % 8))) != 0) progress.Add(saved.Through + 1 + i);
        return progress;
    }

    public PartialTransaction ToSaved(ulong endLsn)
    {
        var last = _done.Length;
        while (last > _through && !_done[last - 1]) last--;
        var after = new byte[(last - _through + 7) / 8];
        for (var seq = _through + 1; seq <= last; seq++)
        {
            var i = seq - _through - 1;
            if (_done[seq - 1]) after[i / 8] |= (byte)(1 << (i % 8));
        }
        return new PartialTransaction(endLsn, _through, after);
    }
}
