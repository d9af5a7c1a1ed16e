using System.Buffers.Binary;
using System.Threading.Channels;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Console;

/// <summary>
/// The back-end of one guest's PV console (xen/include/public/io/console.h, struct xencons_interface:
/// in[1024] @0, out[2048] @1024, in_cons @3072, in_prod @3076, out_cons @3080, out_prod @3084),
/// reached through a mapping of the ring page and an interdomain event channel bound by Dom0.
/// Output is kept in a bounded history (replayed to each new `xl console`), appended to a bounded log file
/// and streamed to attached sessions.
/// </summary>
public sealed class DomainConsole : IDisposable
{
    public const int InSize = 1024, OutSize = 2048;
    private const int OffIn = 0, OffOut = 1024, OffInCons = 3072, OffInProd = 3076, OffOutCons = 3080, OffOutProd = 3084;

    private readonly Domain _dom0;
    private readonly ForeignMapping _ring;
    private readonly uint _localPort;
    private readonly Lock _lock = new();
    private readonly byte[] _history;
    private long _historyWritten;
    private readonly List<Channel<byte[]>> _sessions = [];
    private readonly BoundedLog? _log;
    private int _drainQueued;
    private bool _closed;

    internal DomainConsole(Domain dom0, ForeignMapping ring, uint localPort, int historyBytes, BoundedLog? log)
    {
        _dom0 = dom0;
        _ring = ring;
        _localPort = localPort;
        _history = new byte[historyBytes];
        _log = log;
    }

    public ushort DomId => _ring.Owner.Id;

    /// <summary>Event from the guest: drain off the guest's vCPU thread, coalescing bursts.</summary>
    internal void OnEvent()
    {
        if (Interlocked.Exchange(ref _drainQueued, 1) == 1) return;
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            Volatile.Write(ref _drainQueued, 0);
            Drain();
        }, null);
    }

    /// <summary>Move everything the guest produced into history, log and sessions (xenconsoled's buffer_append).</summary>
    public void Drain()
    {
        byte[] data;
        lock (_lock)
        {
            if (_closed) return;
            Span<byte> page;
            try { page = _ring.Span; }
            catch (ObjectDisposedException) { return; }
            uint cons = Volatile.Read(ref Ref(page, OffOutCons));
            uint prod = Volatile.Read(ref Ref(page, OffOutProd));
            uint size = prod - cons;
            // A producer index more than a ring ahead is a broken or hostile guest: take nothing, as xenconsoled.
            if (size == 0 || size > OutSize) return;
            data = new byte[size];
            for (uint i = 0; i < size; i++) data[i] = page[OffOut + (int)((cons + i) & (OutSize - 1))];
            Volatile.Write(ref Ref(page, OffOutCons), prod);
            AppendHistory(data);
            _log?.Append(data);
            foreach (var s in _sessions) s.Writer.TryWrite(data);
        }
        EventChannelTable.Send(_dom0, _localPort);
    }

    /// <summary>Attach: a snapshot of the history, then live output, atomically (nothing lost or repeated).</summary>
    public ChannelReader<byte[]> Subscribe(out Action detach)
    {
        var ch = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        lock (_lock)
        {
            var history = HistorySnapshot();
            if (history.Length > 0) ch.Writer.TryWrite(history);
            if (_closed) ch.Writer.TryComplete();
            else _sessions.Add(ch);
        }
        detach = () =>
        {
            lock (_lock) _sessions.Remove(ch);
            ch.Writer.TryComplete();
        };
        return ch.Reader;
    }

    /// <summary>Keyboard input into the guest's in[] ring; what does not fit is dropped, as a full UART would.</summary>
    public int SendInput(ReadOnlySpan<byte> input)
    {
        int written = 0;
        lock (_lock)
        {
            if (_closed) return 0;
            Span<byte> page;
            try { page = _ring.Span; }
            catch (ObjectDisposedException) { return 0; }
            uint cons = Volatile.Read(ref Ref(page, OffInCons));
            uint prod = Volatile.Read(ref Ref(page, OffInProd));
            if (prod - cons > InSize) return 0;
            while (written < input.Length && prod - cons < InSize)
                page[OffIn + (int)(prod++ & (InSize - 1))] = input[written++];
            Volatile.Write(ref Ref(page, OffInProd), prod);
        }
        if (written > 0) EventChannelTable.Send(_dom0, _localPort);
        return written;
    }

    public byte[] HistorySnapshot()
    {
        lock (_lock)
        {
            int len = (int)Math.Min(_historyWritten, _history.Length);
            var result = new byte[len];
            long start = _historyWritten - len;
            for (int i = 0; i < len; i++) result[i] = _history[(start + i) % _history.Length];
            return result;
        }
    }

    /// <summary>The domain is gone: take the last output, end every session, unbind.</summary>
    public void Close()
    {
        Drain();
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            foreach (var s in _sessions) s.Writer.TryComplete();
            _sessions.Clear();
        }
        EventChannelTable.Close(_dom0, _localPort);
        _ring.Dispose();
        _log?.Dispose();
    }

    public void Dispose() => Close();

    private void AppendHistory(byte[] data)
    {
        foreach (var b in data) _history[_historyWritten++ % _history.Length] = b;
    }

    private static ref uint Ref(Span<byte> page, int offset) =>
        ref System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(page.Slice(offset, 4))[0];
}

/// <summary>A per-domain console log that keeps at most about <c>limit</c> bytes: when full it starts over
/// after moving the old file to <c>.old</c> (so at most two files, each under the limit).</summary>
internal sealed class BoundedLog : IDisposable
{
    private readonly string _path;
    private readonly long _limit;
    private FileStream _stream;

    public BoundedLog(string path, long limit)
    {
        _path = path;
        _limit = limit;
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        try
        {
            if (_stream.Length + data.Length > _limit)
            {
                _stream.Dispose();
                File.Move(_path, _path + ".old", overwrite: true);
                _stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            }
            _stream.Write(data);
            _stream.Flush();
        }
        catch (IOException) { /* a full disk must not stop the console */ }
    }

    public void Dispose() => _stream.Dispose();
}
