namespace Paravirt.Domains.XenStore;

/// <summary>
/// One client of the daemon: a guest's ring, a tools socket, or an in-process caller. Holds what xenstored keeps
/// per connection (watches, transactions) and the queue of messages waiting to go out.
/// </summary>
public abstract class XenStoreConnection
{
    private readonly object _outLock = new();
    private readonly Queue<byte[]> _out = new();
    private int _outBytes;
    private int _outReplies;
    private readonly Queue<bool> _outIsReply = new();

    private protected XenStoreConnection(XenStoreDaemon daemon, ushort domainId)
    {
        Daemon = daemon;
        DomainId = domainId;
    }

    public XenStoreDaemon Daemon { get; }

    /// <summary>The domain this connection acts for; sockets act for Dom0.</summary>
    public ushort DomainId { get; }

    /// <summary>Dom0 is privileged: it passes every permission check and may use the Dom0-only requests.</summary>
    public bool IsPrivileged => DomainId == 0;

    /// <summary>True once the connection was closed or dropped; it then takes no requests and gets no output.</summary>
    public bool IsClosed { get; private set; }

    internal List<XsWatch> Watches { get; } = [];
    internal Dictionary<uint, XsTransaction> Transactions { get; } = new();
    internal uint NextTransactionId { get; set; } = 1;

    /// <summary>Whether the daemon queues replies for this connection (transports) or only hands them back (in-process).</summary>
    internal virtual bool QueuesReplies => true;

    /// <summary>Replies queued and not yet taken by the transport.</summary>
    public int OutstandingReplies { get { lock (_outLock) return _outReplies; } }

    /// <summary>Bytes queued and not yet taken by the transport.</summary>
    public int QueuedBytes { get { lock (_outLock) return _outBytes; } }

    /// <summary>Queues an encoded message. Watch events are dropped when the output quota is full; replies never are.</summary>
    internal bool Enqueue(byte[] encoded, bool isReply, int byteLimit)
    {
        lock (_outLock)
        {
            if (IsClosed) return false;
            if (!isReply && _outBytes + encoded.Length > byteLimit) return false;
            _out.Enqueue(encoded);
            _outIsReply.Enqueue(isReply);
            _outBytes += encoded.Length;
            if (isReply) _outReplies++;
            return true;
        }
    }

    /// <summary>Takes the next queued message (header and payload) for the transport to send.</summary>
    internal bool TryDequeue(out byte[] encoded)
    {
        lock (_outLock)
        {
            if (!_out.TryDequeue(out var m)) { encoded = []; return false; }
            encoded = m;
            _outBytes -= m.Length;
            if (_outIsReply.Dequeue()) _outReplies--;
            return true;
        }
    }

    internal void ClearOutput()
    {
        lock (_outLock)
        {
            _out.Clear();
            _outIsReply.Clear();
            _outBytes = 0;
            _outReplies = 0;
        }
    }

    internal void MarkClosed()
    {
        lock (_outLock)
        {
            IsClosed = true;
            _out.Clear();
            _outIsReply.Clear();
            _outBytes = 0;
            _outReplies = 0;
        }
    }

    /// <summary>
    /// Called by the daemon, never under its lock, after output was queued for this connection. Transports push it
    /// towards the client here; they must not block on the client.
    /// </summary>
    internal virtual void OnOutputQueued() { }
}
