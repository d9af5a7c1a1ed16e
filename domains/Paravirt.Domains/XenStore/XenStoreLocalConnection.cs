using System.Text;

namespace Paravirt.Domains.XenStore;

/// <summary>A watch event as delivered: the event path (relative if the watch was) and the watch's token.</summary>
public readonly record struct XsWatchEvent(string Path, string Token);

/// <summary>
/// An in-process client acting for one domain (Dom0's toolstack, a managed back-end): requests go through the same
/// <see cref="XenStoreDaemon.Process"/> and the same checks as guests. Replies come back from each call; watch
/// events are queued for <see cref="TryReceiveEvent"/> or, when <see cref="WatchFired"/> is set, handed to it.
/// </summary>
public sealed class XenStoreLocalConnection : XenStoreConnection, IDisposable
{
    private int _reqId;
    private int _dispatching;
    private int _dispatchRequested;

    internal XenStoreLocalConnection(XenStoreDaemon daemon, ushort domid) : base(daemon, domid) { }

    internal override bool QueuesReplies => false;

    /// <summary>Closes the connection: its watches and transactions are dropped.</summary>
    public void Dispose() => Daemon.Disconnect(this);

    /// <summary>
    /// Receives watch events in order, on the thread whose change fired them (never under the daemon's lock).
    /// Exceptions it throws are caught and logged, never passed to the thread that made the change.
    /// </summary>
    public Action<XsWatchEvent>? WatchFired { get; set; }

    /// <summary>Exceptions thrown by <see cref="WatchFired"/> so far.</summary>
    public int HandlerFaults { get; private set; }

    /// <summary>Sends a raw request (message-level access) and returns the reply.</summary>
    public XsMessage Send(XsMessage request) => Daemon.Process(this, request);

    public bool TryReceiveEvent(out XsWatchEvent watchEvent)
    {
        while (TryDequeue(out var encoded))
        {
            var hdr = XsSockMsgHeader.Read(encoded);
            if ((XsMessageType)hdr.Type != XsMessageType.WatchEvent) continue;
            var msg = new XsMessage(XsMessageType.WatchEvent, 0, 0, encoded[XsWire.HeaderSize..]);
            var parts = msg.PayloadStrings();
            watchEvent = new XsWatchEvent(parts[0], parts[1]);
            return true;
        }
        watchEvent = default;
        return false;
    }

    internal override void OnOutputQueued()
    {
        if (WatchFired is null) return;
        Volatile.Write(ref _dispatchRequested, 1);
        while (Interlocked.CompareExchange(ref _dispatching, 1, 0) == 0)
        {
            try
            {
                while (Interlocked.Exchange(ref _dispatchRequested, 0) == 1)
                {
                    while (WatchFired is { } handler && TryReceiveEvent(out var ev))
                    {
                        try
                        {
                            handler(ev);
                        }
                        catch (Exception)
                        {
                            HandlerFaults++;
                        }
                    }
                }
            }
            finally
            {
                Volatile.Write(ref _dispatching, 0);
            }
            if (Volatile.Read(ref _dispatchRequested) == 0) break;
        }
    }

    private uint NextReqId() => (uint)Interlocked.Increment(ref _reqId);

    private XsMessage Call(XsMessage request, string operation, string? path)
    {
        var reply = Daemon.Process(this, request);
        if (reply.Type == XsMessageType.Error) throw new XenStoreException(reply.ErrorCode, operation, path);
        return reply;
    }

    public byte[] Read(string path, uint tx = 0) =>
        Call(XsMessage.FromStrings(XsMessageType.Read, NextReqId(), tx, path), "read", path).Payload;

    public string ReadString(string path, uint tx = 0) => Encoding.Latin1.GetString(Read(path, tx));

    /// <summary>Reads a value, or null when the node does not exist (ENOENT); other errors throw.</summary>
    public string? TryReadString(string path, uint tx = 0)
    {
        var reply = Daemon.Process(this, XsMessage.FromStrings(XsMessageType.Read, NextReqId(), tx, path));
        if (reply.Type != XsMessageType.Error) return Encoding.Latin1.GetString(reply.Payload);
        return reply.ErrorCode == XsErrno.ENOENT ? null : throw new XenStoreException(reply.ErrorCode, "read", path);
    }

    public void Write(string path, ReadOnlySpan<byte> value, uint tx = 0) =>
        Call(XsMessage.WriteRequest(NextReqId(), tx, path, value), "write", path);

    public void Write(string path, string value, uint tx = 0) => Write(path, Encoding.Latin1.GetBytes(value), tx);

    public void Mkdir(string path, uint tx = 0) =>
        Call(XsMessage.FromStrings(XsMessageType.Mkdir, NextReqId(), tx, path), "mkdir", path);

    public void Rm(string path, uint tx = 0) =>
        Call(XsMessage.FromStrings(XsMessageType.Rm, NextReqId(), tx, path), "rm", path);

    public string[] Directory(string path, uint tx = 0) =>
        Call(XsMessage.FromStrings(XsMessageType.Directory, NextReqId(), tx, path), "directory", path).PayloadStrings();

    public XsPermission[] GetPerms(string path, uint tx = 0)
    {
        var parts = Call(XsMessage.FromStrings(XsMessageType.GetPerms, NextReqId(), tx, path), "get-perms", path).PayloadStrings();
        var perms = new XsPermission[parts.Length];
        for (int i = 0; i < parts.Length; i++) XsPermission.TryParse(parts[i], out perms[i]);
        return perms;
    }

    public void SetPerms(string path, IReadOnlyList<XsPermission> perms, uint tx = 0)
    {
        var parts = new string[perms.Count + 1];
        parts[0] = path;
        for (int i = 0; i < perms.Count; i++) parts[i + 1] = perms[i].ToString();
        Call(XsMessage.FromStrings(XsMessageType.SetPerms, NextReqId(), tx, parts), "set-perms", path);
    }

    public void Watch(string path, string token) =>
        Call(XsMessage.FromStrings(XsMessageType.Watch, NextReqId(), 0, path, token), "watch", path);

    public void Unwatch(string path, string token) =>
        Call(XsMessage.FromStrings(XsMessageType.Unwatch, NextReqId(), 0, path, token), "unwatch", path);

    public uint TransactionStart()
    {
        var text = Call(XsMessage.FromStrings(XsMessageType.TransactionStart, NextReqId(), 0, ""), "transaction-start", null).PayloadText();
        return uint.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Ends a transaction; false when the commit conflicted (EAGAIN) and should be retried.</summary>
    public bool TransactionEnd(uint tx, bool commit)
    {
        var reply = Daemon.Process(this, XsMessage.FromStrings(XsMessageType.TransactionEnd, NextReqId(), tx, commit ? "T" : "F"));
        if (reply.Type != XsMessageType.Error) return true;
        return reply.ErrorCode == XsErrno.EAGAIN ? false : throw new XenStoreException(reply.ErrorCode, "transaction-end", null);
    }
}
