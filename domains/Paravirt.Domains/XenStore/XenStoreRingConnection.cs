using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Paravirt.Domains.XenStore;

/// <summary>
/// A guest's 4 KiB xenstore page as the hypervisor side exposes it. When the domain dies the page goes away and
/// <see cref="Span"/> throws <see cref="ObjectDisposedException"/>.
/// </summary>
public interface IRingPage
{
    Span<byte> Span { get; }
}

/// <summary>
/// The server end of one guest's xenstore ring (xenstore_domain_interface, docs/misc/xenstore-ring.txt).
/// Every index in the page is guest-controlled and treated as hostile: a producer/consumer pair further apart than
/// the ring size sets the error indicator to XENSTORE_ERROR_RINGIDX, a header announcing more than
/// XENSTORE_PAYLOAD_MAX sets XENSTORE_ERROR_PROTO, and the connection then stops talking until the guest asks for
/// a reconnect. Input is handled by one thread at a time (whoever calls <see cref="OnEvent"/> first does the work);
/// output is written under a small lock that never waits on anything.
/// </summary>
public sealed class XenStoreRingConnection : XenStoreConnection
{
    private readonly IRingPage _page;
    private readonly Action _notify;
    private readonly object _ringLock = new();

    // Input assembly (touched only by the thread that owns _running).
    private readonly byte[] _header = new byte[XsWire.HeaderSize];
    private readonly byte[] _payload = new byte[XsWire.PayloadMax];
    private int _headerUsed;
    private int _payloadUsed;
    private int _payloadLen = -1;

    // Output: the message being written and how much of it is in the ring already (under _ringLock).
    private byte[]? _current;
    private int _currentUsed;

    private int _running;
    private int _resetPending;
    private int _workRequested;
    private volatile bool _ignored;
    private volatile bool _dropped;

    internal XenStoreRingConnection(XenStoreDaemon daemon, ushort domid, IRingPage page, Action notify)
        : base(daemon, domid)
    {
        _page = page;
        _notify = notify;
        lock (_ringLock)
        {
            try
            {
                var span = Page();
                if (span.IsEmpty) { Drop(); return; }
                // Xen resets the ring on introduction (domain_conn_reset) and advertises its features before it
                // produces or consumes anything; feature bits are only ever added.
                Index(span, XsRingLayout.ReqCons) = 0;
                Index(span, XsRingLayout.ReqProd) = 0;
                Index(span, XsRingLayout.RspCons) = 0;
                Index(span, XsRingLayout.RspProd) = 0;
                Index(span, XsRingLayout.Error) = (uint)XsRingError.None;
                Interlocked.MemoryBarrier();
                Index(span, XsRingLayout.ServerFeatures) |= XsRingLayout.FeatureReconnection | XsRingLayout.FeatureError;
                if (Volatile.Read(ref Index(span, XsRingLayout.Connection)) == XsRingLayout.Reconnect)
                    Volatile.Write(ref Index(span, XsRingLayout.Connection), XsRingLayout.Connected);
            }
            catch (ObjectDisposedException)
            {
                Drop();
            }
        }
    }

    /// <summary>True after a protocol error: the error indicator is set and only a guest reconnect revives the ring.</summary>
    public bool IsIgnored => _ignored;

    /// <summary>True once the page went away or the domain was released.</summary>
    public bool IsDropped => _dropped || IsClosed;

    /// <summary>
    /// The guest signalled the event channel. Safe to call from any thread at any time; returns without waiting if
    /// another thread is already serving this ring (that thread picks the new work up).
    /// </summary>
    public void OnEvent()
    {
        Volatile.Write(ref _workRequested, 1);
        while (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            try
            {
                while (Interlocked.Exchange(ref _workRequested, 0) == 1) Serve();
            }
            catch (Exception e)
            {
                // A bug, not the guest's doing; it must not surface on the guest's vCPU thread. Stop serving this ring.
                Daemon.ReportFault($"ring of domain {DomainId}: {e}");
                Drop();
            }
            finally
            {
                Volatile.Write(ref _running, 0);
            }
            if (Volatile.Read(ref _workRequested) == 0) break;
        }
    }

    internal override void OnOutputQueued()
    {
        bool wrote;
        lock (_ringLock)
        {
            wrote = false;
            if (Interlocked.Exchange(ref _resetPending, 0) == 1)
            {
                ResetLocked(signalConnected: true);
                wrote = true;
            }
            wrote |= PumpOutputLocked();
        }
        if (wrote) Kick();
    }

    /// <summary>
    /// XS_INTRODUCE for an introduced domain: forget all state and start from an empty ring. Runs under the daemon's
    /// lock, so the ring itself is reset later, outside it, by <see cref="OnOutputQueued"/>.
    /// </summary>
    internal void RequestResetFromIntroduce()
    {
        Volatile.Write(ref _resetPending, 1);
    }

    private void Serve()
    {
        if (IsDropped) return;
        bool progress = false;
        try
        {
            lock (_ringLock)
            {
                var span = Page();
                if (Volatile.Read(ref Index(span, XsRingLayout.Connection)) == XsRingLayout.Reconnect)
                {
                    ResetLocked(signalConnected: true);
                    progress = true;
                }
                if (_ignored) { if (progress) Kick(); return; }
                progress |= PumpOutputLocked();
            }

            // Read and handle requests while the guest has not too many replies waiting (xenstored's outstanding quota).
            while (!_ignored && !IsDropped && OutstandingReplies < Daemon.Quotas.OutstandingRequests)
            {
                XsMessage? request;
                lock (_ringLock)
                {
                    if (_ignored) break;
                    request = ReadRequestLocked(out bool consumed);
                    progress |= consumed;
                    if (request is null) break;
                }
                Daemon.Process(this, request); // queues the reply; OnOutputQueued writes it out
            }
        }
        catch (ObjectDisposedException)
        {
            Drop();
            return;
        }
        if (progress) Kick();
    }

    /// <summary>Assembles the next request from the input ring; null when more bytes are needed or the guest misbehaved.</summary>
    private XsMessage? ReadRequestLocked(out bool consumed)
    {
        consumed = false;
        var span = Page();
        while (true)
        {
            if (_payloadLen < 0)
            {
                int n = ReadInput(span, _header.AsSpan(_headerUsed));
                if (n < 0) return null;
                consumed |= n > 0;
                _headerUsed += n;
                if (_headerUsed < XsWire.HeaderSize) return null;
                var hdr = XsSockMsgHeader.Read(_header);
                if (hdr.Len > XsWire.PayloadMax)
                {
                    Ignore(span, XsRingError.Proto);
                    return null;
                }
                _payloadLen = (int)hdr.Len;
                _payloadUsed = 0;
            }
            if (_payloadUsed < _payloadLen)
            {
                int n = ReadInput(span, _payload.AsSpan(_payloadUsed, _payloadLen - _payloadUsed));
                if (n < 0) return null;
                consumed |= n > 0;
                _payloadUsed += n;
                if (_payloadUsed < _payloadLen) return null;
            }
            var h = XsSockMsgHeader.Read(_header);
            var msg = new XsMessage((XsMessageType)h.Type, h.ReqId, h.TxId, _payload.AsSpan(0, _payloadLen).ToArray());
            _headerUsed = 0;
            _payloadLen = -1;
            _payloadUsed = 0;
            return msg;
        }
    }

    /// <summary>Copies up to destination.Length bytes out of the request ring; -1 (and the connection ignored) on bad indices.</summary>
    private int ReadInput(Span<byte> span, Span<byte> destination)
    {
        if (destination.IsEmpty) return 0;
        uint cons = Volatile.Read(ref Index(span, XsRingLayout.ReqCons));
        uint prod = Volatile.Read(ref Index(span, XsRingLayout.ReqProd));
        Interlocked.MemoryBarrier(); // indices before data (xen_mb in xenstored's readchn)
        uint avail = prod - cons;
        if (avail > XsWire.RingSize)
        {
            Ignore(span, XsRingError.RingIdx);
            return -1;
        }
        int n = (int)Math.Min(avail, (uint)destination.Length);
        var req = span.Slice(XsRingLayout.Req, XsWire.RingSize);
        for (int done = 0; done < n;)
        {
            int at = (int)((cons + (uint)done) & (XsWire.RingSize - 1));
            int chunk = Math.Min(n - done, XsWire.RingSize - at);
            req.Slice(at, chunk).CopyTo(destination.Slice(done, chunk));
            done += chunk;
        }
        Interlocked.MemoryBarrier(); // data read before the space is handed back
        Volatile.Write(ref Index(span, XsRingLayout.ReqCons), cons + (uint)n);
        return n;
    }

    /// <summary>Writes queued output into the response ring as far as it fits. True if anything was written.</summary>
    private bool PumpOutputLocked()
    {
        if (_ignored || IsDropped) return false;
        Span<byte> span;
        try
        {
            span = Page();
        }
        catch (ObjectDisposedException)
        {
            Drop();
            return false;
        }
        bool wrote = false;
        while (true)
        {
            if (_current is null)
            {
                if (!TryDequeue(out var next)) break;
                _current = next;
                _currentUsed = 0;
            }
            uint cons = Volatile.Read(ref Index(span, XsRingLayout.RspCons));
            uint prod = Volatile.Read(ref Index(span, XsRingLayout.RspProd));
            Interlocked.MemoryBarrier();
            uint used = prod - cons;
            if (used > XsWire.RingSize)
            {
                Ignore(span, XsRingError.RingIdx);
                return wrote;
            }
            int free = XsWire.RingSize - (int)used;
            if (free == 0) break;
            int n = Math.Min(free, _current.Length - _currentUsed);
            var rsp = span.Slice(XsRingLayout.Rsp, XsWire.RingSize);
            for (int done = 0; done < n;)
            {
                int at = (int)((prod + (uint)done) & (XsWire.RingSize - 1));
                int chunk = Math.Min(n - done, XsWire.RingSize - at);
                _current.AsSpan(_currentUsed + done, chunk).CopyTo(rsp.Slice(at, chunk));
                done += chunk;
            }
            Interlocked.MemoryBarrier(); // data visible before the producer index moves
            Volatile.Write(ref Index(span, XsRingLayout.RspProd), prod + (uint)n);
            wrote = true;
            _currentUsed += n;
            if (_currentUsed == _current.Length) _current = null;
        }
        return wrote;
    }

    /// <summary>
    /// The ring reconnection feature: drop partial packets, queued output, watches and transactions, empty both
    /// queues, clear the error, set the connection state back to XENSTORE_CONNECTED (the caller then signals).
    /// </summary>
    private void ResetLocked(bool signalConnected)
    {
        Daemon.ResetConnection(this);
        _headerUsed = 0;
        _payloadUsed = 0;
        _payloadLen = -1;
        _current = null;
        _ignored = false;
        try
        {
            var span = Page();
            Volatile.Write(ref Index(span, XsRingLayout.ReqCons), 0);
            Volatile.Write(ref Index(span, XsRingLayout.ReqProd), 0);
            Volatile.Write(ref Index(span, XsRingLayout.RspCons), 0);
            Volatile.Write(ref Index(span, XsRingLayout.RspProd), 0);
            Volatile.Write(ref Index(span, XsRingLayout.Error), (uint)XsRingError.None);
            Interlocked.MemoryBarrier();
            if (signalConnected) Volatile.Write(ref Index(span, XsRingLayout.Connection), XsRingLayout.Connected);
        }
        catch (ObjectDisposedException)
        {
            Drop();
        }
    }

    /// <summary>The connection error feature: record why, stop serving, discard watches, transactions and output.</summary>
    private void Ignore(Span<byte> span, XsRingError error)
    {
        _ignored = true;
        Volatile.Write(ref Index(span, XsRingLayout.Error), (uint)error);
        Daemon.ResetConnection(this);
        _current = null;
        _headerUsed = 0;
        _payloadUsed = 0;
        _payloadLen = -1;
    }

    private void Drop()
    {
        if (_dropped) return;
        _dropped = true;
        Daemon.Disconnect(this);
    }

    private void Kick()
    {
        if (IsDropped) return;
        try
        {
            _notify();
        }
        catch (ObjectDisposedException)
        {
            Drop();
        }
        catch (Exception)
        {
            // An event channel that cannot be signalled: XENSTORE_ERROR_COMM, as far as the page still exists.
            try
            {
                lock (_ringLock) Ignore(Page(), XsRingError.Comm);
            }
            catch (ObjectDisposedException)
            {
                Drop();
            }
        }
    }

    /// <summary>The page, or empty if the hypervisor side handed something smaller than the interface.</summary>
    private Span<byte> Page()
    {
        var span = _page.Span;
        return span.Length < XsRingLayout.Size ? throw new ObjectDisposedException(nameof(IRingPage), "xenstore page smaller than the ring interface") : span;
    }

    private static ref uint Index(Span<byte> span, int offset) =>
        ref Unsafe.As<byte, uint>(ref MemoryMarshal.GetReference(span.Slice(offset, sizeof(uint))));
}
