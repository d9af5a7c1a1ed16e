using System.Globalization;
using System.Text;

namespace Paravirt.Domains.XenStore;

/// <summary>
/// The xenstore daemon core: the tree, permissions, watches, transactions and domain bookkeeping of
/// docs/misc/xenstore.txt. Every request goes through <see cref="Process"/>, whatever transport carried it.
/// Thread-safe: one lock guards all state; output is pushed to transports after the lock is released, and the
/// daemon never waits on a client while holding it.
/// </summary>
public sealed partial class XenStoreDaemon
{
    private static readonly byte[] Ok = "OK\0"u8.ToArray();

    private readonly object _gate = new();
    private readonly NodeStore _store = new();
    private readonly List<XenStoreConnection> _connections = [];
    private readonly Dictionary<ushort, DomainRecord> _domains = new();
    private readonly List<XenStoreConnection> _kicked = [];
    private readonly HashSet<XenStoreConnection> _kickedSet = [];
    private readonly IXenStoreRingMapper? _ringMapper;
    private readonly Action<string>? _log;
    private long _internalFaults;

    /// <summary>The initial watch event of an XS_WATCH: it must follow the request's own "OK" reply.</summary>
    private (XenStoreConnection Conn, string Path, string Token)? _deferredEvent;

    /// <param name="quotas">Per-domain limits; xenstored's defaults when null.</param>
    /// <param name="ringMapper">Maps a guest's ring for XS_INTRODUCE arriving as a message; without it XS_INTRODUCE answers ENOSYS
    /// (the in-process <see cref="IntroduceDomain"/> needs no mapper).</param>
    /// <param name="log">Receives one line per notable event (dropped clients, internal faults).</param>
    public XenStoreDaemon(XenStoreQuotas? quotas = null, IXenStoreRingMapper? ringMapper = null, Action<string>? log = null)
    {
        Quotas = quotas ?? XenStoreQuotas.Default;
        _ringMapper = ringMapper;
        _log = log;
    }

    public XenStoreQuotas Quotas { get; }

    /// <summary>Requests that hit an unexpected exception inside the daemon (answered EIO). Zero unless there is a bug.</summary>
    public long InternalFaults => Interlocked.Read(ref _internalFaults);

    /// <summary>Number of nodes in the committed store (including the special @ nodes).</summary>
    public int NodeCount { get { lock (_gate) return _store.Count; } }

    /// <summary>
    /// Handles one request from <paramref name="connection"/> and returns its reply (an XS_ERROR reply on failure).
    /// For transports the reply is also queued on the connection, in order with its watch events.
    /// Never throws for any request content.
    /// </summary>
    public XsMessage Process(XenStoreConnection connection, XsMessage request)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(request);
        XsMessage reply;
        XenStoreConnection[] kicks;
        lock (_gate)
        {
            _deferredEvent = null;
            try
            {
                reply = Dispatch(connection, request);
            }
            catch (Exception e)
            {
                // A bug, never a client's fault: answer EIO rather than let it reach a guest's vCPU thread.
                ReportFault($"{request}: {e}");
                reply = ErrorReply(request, XsErrno.EIO);
                _deferredEvent = null;
            }
            if (connection.QueuesReplies && !connection.IsClosed)
            {
                connection.Enqueue(reply.Encode(), isReply: true, int.MaxValue);
                Kick(connection);
            }
            if (_deferredEvent is { } ev)
            {
                SendEvent(ev.Conn, ev.Path, ev.Token);
                _deferredEvent = null;
            }
            kicks = TakeKicks();
        }
        Deliver(kicks);
        return reply;
    }

    internal void ReportFault(string what)
    {
        Interlocked.Increment(ref _internalFaults);
        _log?.Invoke("xenstored: internal fault in " + what);
    }

    /// <summary>Adds a transport's connection to the set that watches fire on.</summary>
    internal void Register(XenStoreConnection connection)
    {
        lock (_gate)
        {
            if (!connection.IsClosed && !_connections.Contains(connection)) _connections.Add(connection);
        }
    }

    /// <summary>Closes a connection: its watches and transactions are discarded and it gets no more output.</summary>
    public void Disconnect(XenStoreConnection connection)
    {
        lock (_gate) DisconnectLocked(connection);
    }

    private void DisconnectLocked(XenStoreConnection connection)
    {
        connection.Watches.Clear();
        connection.Transactions.Clear();
        _connections.Remove(connection);
        connection.MarkClosed();
    }

    /// <summary>Discards a connection's watches, transactions and queued output but keeps it (ring reconnect, protocol error).</summary>
    internal void ResetConnection(XenStoreConnection connection)
    {
        lock (_gate)
        {
            connection.Watches.Clear();
            connection.Transactions.Clear();
            connection.ClearOutput();
        }
    }

    private XsMessage Dispatch(XenStoreConnection conn, XsMessage req)
    {
        if (conn.IsClosed) return ErrorReply(req, XsErrno.EINVAL);
        // XENSTORE_PAYLOAD_MAX binds both directions; transports disconnect before this, in-process callers get E2BIG.
        if (req.Payload.Length > XsWire.PayloadMax) return ErrorReply(req, XsErrno.E2BIG);

        // The flags of xenstored's wire_funcs table: PRIV = Dom0 only, NOTID = tx_id ignored.
        Handler? handler;
        bool privileged = false, ignoresTx = false;
        switch (req.Type)
        {
            case XsMessageType.Control: handler = DoControl; privileged = true; break;
            case XsMessageType.Directory: handler = DoDirectory; break;
            case XsMessageType.Read: handler = DoRead; break;
            case XsMessageType.GetPerms: handler = DoGetPerms; break;
            case XsMessageType.Watch: handler = DoWatch; ignoresTx = true; break;
            case XsMessageType.Unwatch: handler = DoUnwatch; ignoresTx = true; break;
            case XsMessageType.TransactionStart: handler = DoTransactionStart; break;
            case XsMessageType.TransactionEnd: handler = DoTransactionEnd; break;
            case XsMessageType.Introduce: handler = DoIntroduce; privileged = true; break;
            case XsMessageType.Release: handler = DoRelease; privileged = true; break;
            case XsMessageType.GetDomainPath: handler = DoGetDomainPath; break;
            case XsMessageType.Write: handler = DoWrite; break;
            case XsMessageType.Mkdir: handler = DoMkdir; break;
            case XsMessageType.Rm: handler = DoRm; break;
            case XsMessageType.SetPerms: handler = DoSetPerms; break;
            case XsMessageType.IsDomainIntroduced: handler = DoIsDomainIntroduced; privileged = true; break;
            case XsMessageType.Resume: handler = DoResume; privileged = true; break;
            case XsMessageType.SetTarget: handler = DoSetTarget; privileged = true; break;
            case XsMessageType.ResetWatches: handler = DoResetWatches; break;
            case XsMessageType.DirectoryPart: handler = DoDirectoryPart; break;
            default: handler = null; break; // WATCH_EVENT, ERROR, RESTRICT and unknown types
        }
        if (handler is null) return ErrorReply(req, XsErrno.ENOSYS);
        if (privileged && !conn.IsPrivileged) return ErrorReply(req, XsErrno.EACCES);

        XsTransaction? tx = null;
        if (!ignoresTx && req.TxId != 0 && !conn.Transactions.TryGetValue(req.TxId, out tx))
            return ErrorReply(req, XsErrno.ENOENT);

        var r = new Request(conn, req, tx, tx is null ? _store : tx);
        var err = handler(r, out var payload);
        if (tx is not null && !conn.IsPrivileged && conn.Transactions.ContainsKey(tx.Id) &&
            tx.Accessed.Count > Quotas.NodesPerTransaction)
        {
            // transaction-nodes quota: the transaction can no longer commit.
            tx.Failed = true;
            err = XsErrno.ENOSPC;
        }
        if (err != XsErrno.None) return ErrorReply(req, err);
        if (payload.Length > XsWire.PayloadMax) return ErrorReply(req, XsErrno.E2BIG);
        return new XsMessage(req.Type, req.ReqId, req.TxId, payload);
    }

    private static XsMessage ErrorReply(XsMessage req, XsErrno errno) =>
        XsMessage.FromStrings(XsMessageType.Error, req.ReqId, req.TxId, XsErrors.WireName(errno));

    private delegate XsErrno Handler(Request r, out byte[] reply);

    private readonly record struct Request(XenStoreConnection Conn, XsMessage Msg, XsTransaction? Tx, INodeView View)
    {
        public byte[] Payload => Msg.Payload;
    }

    // ---------------------------------------------------------------- payload parsing

    /// <summary>xenstored's onearg: exactly one string, its NUL the payload's last byte.</summary>
    private static bool OneArg(byte[] payload, out ReadOnlySpan<byte> arg)
    {
        int nul = Array.IndexOf(payload, (byte)0);
        if (payload.Length == 0 || nul != payload.Length - 1) { arg = default; return false; }
        arg = payload.AsSpan(0, nul);
        return true;
    }

    private static int CountNuls(byte[] payload) => payload.AsSpan().Count((byte)0);

    /// <summary>The NUL-terminated strings of the payload; bytes after the last NUL are not a string.</summary>
    private static List<(int Start, int Length)> Strings(byte[] payload)
    {
        var list = new List<(int, int)>();
        int start = 0;
        for (int i = 0; i < payload.Length; i++)
        {
            if (payload[i] != 0) continue;
            list.Add((start, i - start));
            start = i + 1;
        }
        return list;
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>C atoi as xenstored uses it for domids and offsets: optional blanks and sign, then digits; saturates instead of overflowing.</summary>
    internal static int Atoi(ReadOnlySpan<byte> s)
    {
        int i = 0;
        while (i < s.Length && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) { negative = s[i] == '-'; i++; }
        long v = 0;
        for (; i < s.Length && s[i] >= '0' && s[i] <= '9'; i++)
            v = Math.Min(v * 10 + (s[i] - '0'), (long)int.MaxValue + 1);
        v = negative ? -v : v;
        return (int)Math.Clamp(v, int.MinValue, int.MaxValue);
    }

    private XsErrno PathArg(Request r, ReadOnlySpan<byte> raw, bool allowSpecial, out string path) =>
        XenStorePath.Canonicalize(raw, r.Conn.DomainId, allowSpecial, limitRelative: !r.Conn.IsPrivileged, out path);

    private static byte[] Utf(string s) => Encoding.Latin1.GetBytes(s + "\0");

    // ---------------------------------------------------------------- permissions

    /// <summary>
    /// Access of a connection to a node (xenstored's perm_for_conn): Dom0 and the owner (or the domain it targets)
    /// get everything; otherwise the first later entry naming the domain (or its target); else the default in entry 0.
    /// </summary>
    private XsPerm PermFor(XenStoreConnection c, XsPermission[] perms)
    {
        const XsPerm all = XsPerm.Read | XsPerm.Write | XsPerm.Owner;
        if (c.IsPrivileged) return all;
        ushort? target = _domains.TryGetValue(c.DomainId, out var d) ? d.Target : null;
        if (perms[0].DomainId == c.DomainId || perms[0].DomainId == target) return all;
        for (int i = 1; i < perms.Length; i++)
            if (perms[i].DomainId == c.DomainId || perms[i].DomainId == target)
                return perms[i].Access & XsPerm.Both;
        return perms[0].Access & XsPerm.Both;
    }

    /// <summary>
    /// Reads a node the caller needs <paramref name="need"/> on. A refusal never tells what the caller may not know:
    /// a missing node is ENOENT only if its nearest existing ancestor grants the access, else EACCES
    /// (xenstored's errno_from_parents).
    /// </summary>
    private XsErrno GetChecked(XenStoreConnection c, INodeView view, string path, XsPerm need, out XsNode? node)
    {
        node = view.Get(path);
        XsErrno err;
        if (node is not null)
        {
            if ((PermFor(c, node.Perms) & need) == need) return XsErrno.None;
            node = null;
            err = XsErrno.EACCES;
        }
        else
        {
            err = XsErrno.ENOENT;
        }
        var p = path;
        XsPerm parentPerm = XsPerm.None;
        do
        {
            p = XenStorePath.Parent(p);
            var n = view.Get(p);
            if (n is not null) { parentPerm = PermFor(c, n.Perms); break; }
        } while (p != "/");
        return (parentPerm & need) != 0 ? err : XsErrno.EACCES;
    }

    // ---------------------------------------------------------------- tree changes

    /// <summary>
    /// Creates <paramref name="path"/> and any missing parents (xenstored's construct_node): new nodes copy the
    /// permissions of the nearest existing parent, and an unprivileged creator becomes their owner. All quota
    /// checks happen before anything changes.
    /// </summary>
    private XsErrno CreateNode(Request r, string path, byte[] value, out XsNode created)
    {
        created = null!;
        var names = new List<string>();
        string p = path;
        string parentPath;
        XsNode? parent;
        while (true)
        {
            names.Add(p);
            parentPath = XenStorePath.Parent(p);
            parent = r.View.Get(parentPath);
            if (parent is not null) break;
            if (parentPath == "/") return XsErrno.EIO;
            p = parentPath;
        }

        bool unprivileged = !r.Conn.IsPrivileged;
        if (unprivileged && _store.OwnedBy(r.Conn.DomainId) + names.Count > Quotas.NodesPerDomain) return XsErrno.ENOSPC;

        var perms = (XsPermission[])parent.Perms.Clone();
        if (unprivileged) perms[0] = perms[0] with { DomainId = r.Conn.DomainId };

        var newParent = parent.WithChild(XenStorePath.BaseName(names[^1]));
        if (unprivileged && newParent.AccountedSize > Quotas.NodeSize) return XsErrno.ENOSPC;
        var nodes = new XsNode[names.Count];
        for (int i = names.Count - 1; i >= 0; i--)
        {
            nodes[i] = new XsNode(i == 0 ? value : [], perms, i > 0 ? [XenStorePath.BaseName(names[i - 1])] : []);
            if (unprivileged && nodes[i].AccountedSize > Quotas.NodeSize) return XsErrno.ENOSPC;
        }

        r.View.Put(parentPath, newParent);
        for (int i = names.Count - 1; i >= 0; i--) r.View.Put(names[i], nodes[i]);
        if (r.Tx is not null) r.Tx.NodeCreated = true;
        created = nodes[0];
        return XsErrno.None;
    }

    /// <summary>
    /// Deletes a subtree (not "/"): watches fire for every deleted node — exactly-matching watches for the nodes
    /// below, parent watches for the top one (xenstored's delnode_sub) — then the parent forgets the child.
    /// </summary>
    private void RemoveSubtree(INodeView view, XsTransaction? tx, string root)
    {
        var order = new List<(string Path, XsNode Node)>();
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var path = stack.Pop();
            var node = view.Get(path);
            if (node is null) continue;
            order.Add((path, node));
            foreach (var c in node.Children) stack.Push(XenStorePath.Child(path, c));
        }
        // Reversed pre-order visits every node after all of its descendants.
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var (path, node) = order[i];
            FireWatches(view, tx, path, node.Perms, exact: i != 0, oldPerms: null);
            view.Remove(path);
        }
        var parentPath = XenStorePath.Parent(root);
        var parent = view.Get(parentPath);
        if (parent is not null) view.Put(parentPath, parent.WithoutChild(XenStorePath.BaseName(root)));
    }

    // ---------------------------------------------------------------- watches

    /// <summary>Fires (or, inside a transaction, queues until commit) the watches a change of <paramref name="path"/> triggers.</summary>
    private void FireWatches(INodeView view, XsTransaction? tx, string path, XsPermission[]? nodePerms, bool exact, XsPermission[]? oldPerms)
    {
        var parentPerms = view.Peek(XenStorePath.Parent(path))?.Perms;
        if (tx is not null)
        {
            tx.PendingEvents.Add(new PendingWatchEvent(path, exact, nodePerms, parentPerms, oldPerms));
            return;
        }
        FireNow(new PendingWatchEvent(path, exact, nodePerms, parentPerms, oldPerms));
    }

    private void FireNow(PendingWatchEvent ev)
    {
        foreach (var conn in _connections)
        {
            if (conn.Watches.Count == 0 || conn.IsClosed) continue;
            if (!WatchPermitted(conn, ev)) continue;
            foreach (var w in conn.Watches)
            {
                bool match = ev.Exact ? ev.Path == w.Node : XenStorePath.IsChildOf(ev.Path, w.Node);
                if (match) SendEvent(conn, ev.Path[w.PrefixLength..], w.Token);
            }
        }
    }

    /// <summary>xenstored's watch_permitted: the watcher must be able to read the node (before or after a permission change) or its parent.</summary>
    private bool WatchPermitted(XenStoreConnection c, PendingWatchEvent ev)
    {
        if (ev.OldPerms is not null && (PermFor(c, ev.OldPerms) & XsPerm.Read) != 0) return true;
        if (ev.NodePerms is not null && (PermFor(c, ev.NodePerms) & XsPerm.Read) != 0) return true;
        return ev.ParentPerms is not null && (PermFor(c, ev.ParentPerms) & XsPerm.Read) != 0;
    }

    /// <summary>Queues XS_WATCH_EVENT "&lt;path&gt;|&lt;token&gt;|" (req_id and tx_id 0); over-long events are not sent.</summary>
    private void SendEvent(XenStoreConnection conn, string path, string token)
    {
        if (path.Length + token.Length + 2 > XsWire.PayloadMax) return;
        var msg = XsMessage.FromStrings(XsMessageType.WatchEvent, 0, 0, path, token);
        if (conn.Enqueue(msg.Encode(), isReply: false, Quotas.OutputBytes)) Kick(conn);
    }

    private void Kick(XenStoreConnection conn)
    {
        if (_kickedSet.Add(conn)) _kicked.Add(conn);
    }

    private XenStoreConnection[] TakeKicks()
    {
        if (_kicked.Count == 0) return [];
        var a = _kicked.ToArray();
        _kicked.Clear();
        _kickedSet.Clear();
        return a;
    }

    private void Deliver(XenStoreConnection[] kicks)
    {
        foreach (var k in kicks)
        {
            try
            {
                k.OnOutputQueued();
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _internalFaults);
                _log?.Invoke($"xenstored: output to domain {k.DomainId} failed: {e.Message}");
            }
        }
    }

    private void FireSpecial(string name)
    {
        var node = _store.Peek(name);
        if (node is null) return;
        FireNow(new PendingWatchEvent(name, Exact: true, node.Perms, _store.Peek("/")?.Perms, null));
    }

    private static string Dec(long v) => v.ToString(CultureInfo.InvariantCulture);
}
