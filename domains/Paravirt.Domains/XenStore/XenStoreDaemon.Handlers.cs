using System.Text;

namespace Paravirt.Domains.XenStore;

// One method per request type, payload syntax and errors as docs/misc/xenstore.txt and xenstored's handlers.
public sealed partial class XenStoreDaemon
{
    private XsErrno DoRead(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var raw)) return XsErrno.EINVAL;
        var err = PathArg(r, raw, false, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Read, out var node);
        if (err != XsErrno.None) return err;
        reply = node!.Value;
        return XsErrno.None;
    }

    private XsErrno DoDirectory(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var raw)) return XsErrno.EINVAL;
        var err = PathArg(r, raw, false, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Read, out var node);
        if (err != XsErrno.None) return err;
        reply = ChildrenBytes(node!);
        return XsErrno.None;
    }

    private static byte[] ChildrenBytes(XsNode node)
    {
        var bytes = new byte[node.ChildrenLength];
        int at = 0;
        foreach (var c in node.Children)
        {
            at += Encoding.Latin1.GetBytes(c, bytes.AsSpan(at));
            bytes[at++] = 0;
        }
        return bytes;
    }

    /// <summary>
    /// DIRECTORY_PART "&lt;path&gt;|&lt;offset&gt;|": answers "&lt;gencnt&gt;|" and as many whole children from the byte
    /// offset as fit; an extra NUL marks the end of the list.
    /// </summary>
    private XsErrno DoDirectoryPart(Request r, out byte[] reply)
    {
        reply = [];
        if (CountNuls(r.Payload) != 2) return XsErrno.EINVAL;
        var strings = Strings(r.Payload);
        var err = PathArg(r, r.Payload.AsSpan(strings[0].Start, strings[0].Length), false, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Read, out var node);
        if (err != XsErrno.None) return err;

        // The offset is parsed like C atoi into an unsigned: a negative one lands past the end.
        uint off = unchecked((uint)Atoi(r.Payload.AsSpan(strings[1].Start, strings[1].Length)));
        var children = ChildrenBytes(node!);
        var gen = Encoding.ASCII.GetBytes(Dec((long)node!.Generation) + "\0");
        if (off >= (uint)children.Length)
        {
            reply = [.. gen, 0];
            return XsErrno.None;
        }
        int start = (int)off, len = 0, maxLen = XsWire.PayloadMax - gen.Length - 1;
        while (true)
        {
            int nameLen = Array.IndexOf(children, (byte)0, start + len) - (start + len);
            if (len + nameLen >= maxLen) break;
            len += nameLen + 1;
            if (start + len == children.Length) break;
        }
        bool end = start + len == children.Length;
        reply = new byte[gen.Length + len + (end ? 1 : 0)];
        gen.CopyTo(reply, 0);
        Array.Copy(children, start, reply, gen.Length, len);
        return XsErrno.None;
    }

    private XsErrno DoWrite(Request r, out byte[] reply)
    {
        reply = [];
        int nul = Array.IndexOf(r.Payload, (byte)0);
        if (nul < 0) return XsErrno.EINVAL;
        var value = r.Payload.AsSpan(nul + 1).ToArray();
        var err = PathArg(r, r.Payload.AsSpan(0, nul), false, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Write, out var node);
        XsNode written;
        if (err == XsErrno.ENOENT)
        {
            err = CreateNode(r, path, value, out written);
            if (err != XsErrno.None) return err;
        }
        else if (err != XsErrno.None)
        {
            return err;
        }
        else
        {
            written = node!.WithValue(value);
            if (!r.Conn.IsPrivileged && written.AccountedSize > Quotas.NodeSize) return XsErrno.ENOSPC;
            r.View.Put(path, written);
        }
        FireWatches(r.View, r.Tx, path, written.Perms, exact: false, oldPerms: null);
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoMkdir(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var raw)) return XsErrno.EINVAL;
        var err = PathArg(r, raw, false, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Write, out _);
        if (err == XsErrno.ENOENT)
        {
            err = CreateNode(r, path, [], out var created);
            if (err != XsErrno.None) return err;
            FireWatches(r.View, r.Tx, path, created.Perms, exact: false, oldPerms: null);
        }
        else if (err != XsErrno.None)
        {
            return err;
        }
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoRm(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var raw)) return XsErrno.EINVAL;
        var err = PathArg(r, raw, false, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Write, out _);
        if (err == XsErrno.ENOENT)
        {
            // Removing what is not there is fine, as long as its parent exists.
            if (r.View.Get(XenStorePath.Parent(path)) is null) return XsErrno.ENOENT;
            reply = Ok;
            return XsErrno.None;
        }
        if (err != XsErrno.None) return err;
        if (path == "/") return XsErrno.EINVAL;
        RemoveSubtree(r.View, r.Tx, path);
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoGetPerms(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var raw)) return XsErrno.EINVAL;
        var err = PathArg(r, raw, true, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Read, out var node);
        if (err != XsErrno.None) return err;
        var sb = new StringBuilder();
        foreach (var p in node!.Perms) sb.Append(p.ToString()).Append('\0');
        reply = Encoding.ASCII.GetBytes(sb.ToString());
        return XsErrno.None;
    }

    /// <summary>SET_PERMS "&lt;path&gt;|&lt;perm&gt;|+": only the owner (or Dom0) may, and only Dom0 may hand the node to another owner.</summary>
    private XsErrno DoSetPerms(Request r, out byte[] reply)
    {
        reply = [];
        int count = CountNuls(r.Payload);
        if (count < 2) return XsErrno.EINVAL;
        if (!r.Conn.IsPrivileged && count - 1 > Quotas.PermissionsPerNode) return XsErrno.ENOSPC;
        var strings = Strings(r.Payload);
        var perms = new XsPermission[strings.Count - 1];
        for (int i = 1; i < strings.Count; i++)
        {
            var text = Latin1(r.Payload.AsSpan(strings[i].Start, strings[i].Length));
            if (!XsPermission.TryParse(text, out perms[i - 1])) return XsErrno.EINVAL;
        }
        var err = PathArg(r, r.Payload.AsSpan(strings[0].Start, strings[0].Length), true, out var path);
        if (err != XsErrno.None) return err;
        err = GetChecked(r.Conn, r.View, path, XsPerm.Write | XsPerm.Owner, out var node);
        if (err != XsErrno.None) return err;
        if (!r.Conn.IsPrivileged && perms[0].DomainId != node!.Owner) return XsErrno.EPERM;
        var updated = node!.WithPerms(perms);
        if (!r.Conn.IsPrivileged && updated.AccountedSize > Quotas.NodeSize) return XsErrno.ENOSPC;
        r.View.Put(path, updated);
        FireWatches(r.View, r.Tx, path, perms, exact: false, oldPerms: node.Perms);
        reply = Ok;
        return XsErrno.None;
    }

    /// <summary>WATCH "&lt;wpath&gt;|&lt;token&gt;|": acknowledged, then fired once straight away with the path as given.</summary>
    private XsErrno DoWatch(Request r, out byte[] reply)
    {
        reply = [];
        var strings = Strings(r.Payload);
        if (strings.Count != 2) return XsErrno.EINVAL;
        var raw = r.Payload.AsSpan(strings[0].Start, strings[0].Length);
        bool relative = raw.Length == 0 || (raw[0] != '/' && raw[0] != '@');
        var err = PathArg(r, raw, true, out var path);
        if (err != XsErrno.None) return err;
        var token = Latin1(r.Payload.AsSpan(strings[1].Start, strings[1].Length));
        foreach (var w in r.Conn.Watches)
            if (w.Node == path && w.Token == token) return XsErrno.EEXIST;
        if (!r.Conn.IsPrivileged && r.Conn.Watches.Count >= Quotas.WatchesPerDomain) return XsErrno.E2BIG;
        int prefix = relative ? XenStorePath.DomainPath(r.Conn.DomainId).Length + 1 : 0;
        var watch = new XsWatch(path, token, prefix);
        r.Conn.Watches.Add(watch);
        _deferredEvent = (r.Conn, path[prefix..], token);
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoUnwatch(Request r, out byte[] reply)
    {
        reply = [];
        var strings = Strings(r.Payload);
        if (strings.Count != 2) return XsErrno.EINVAL;
        var err = PathArg(r, r.Payload.AsSpan(strings[0].Start, strings[0].Length), true, out var path);
        if (err != XsErrno.None) return err;
        var token = Latin1(r.Payload.AsSpan(strings[1].Start, strings[1].Length));
        int i = r.Conn.Watches.FindIndex(w => w.Node == path && w.Token == token);
        if (i < 0) return XsErrno.ENOENT;
        r.Conn.Watches.RemoveAt(i);
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoResetWatches(Request r, out byte[] reply)
    {
        r.Conn.Watches.Clear();
        r.Conn.Transactions.Clear();
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoTransactionStart(Request r, out byte[] reply)
    {
        reply = [];
        if (r.Tx is not null) return XsErrno.EBUSY; // no nested transactions
        if (!r.Conn.IsPrivileged && r.Conn.Transactions.Count >= Quotas.TransactionsPerDomain) return XsErrno.ENOSPC;
        uint id = r.Conn.NextTransactionId;
        while (id == 0 || r.Conn.Transactions.ContainsKey(id)) id++;
        r.Conn.NextTransactionId = id + 1;
        r.Conn.Transactions.Add(id, new XsTransaction(id, _store));
        reply = Encoding.ASCII.GetBytes(Dec(id) + "\0");
        return XsErrno.None;
    }

    /// <summary>
    /// TRANSACTION_END "T|" commits, "F|" discards. Either way the transaction is over. A commit fails with EAGAIN
    /// when any node the transaction touched changed since (or appeared, or vanished).
    /// </summary>
    private XsErrno DoTransactionEnd(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var arg) || arg.Length != 1 || (arg[0] != 'T' && arg[0] != 'F')) return XsErrno.EINVAL;
        var tx = r.Tx;
        if (tx is null) return XsErrno.ENOENT;
        r.Conn.Transactions.Remove(tx.Id);
        if (arg[0] == 'F') { reply = Ok; return XsErrno.None; }
        if (tx.Failed) return XsErrno.ENOMEM;
        foreach (var (path, gen) in tx.Accessed)
            if ((_store.Peek(path)?.Generation ?? XsTransaction.Absent) != gen) return XsErrno.EAGAIN;

        if (!r.Conn.IsPrivileged && tx.NodeCreated)
        {
            int delta = 0;
            ushort me = r.Conn.DomainId;
            foreach (var (path, node) in tx.Changes)
            {
                if (_store.Peek(path) is { } old && old.Owner == me) delta--;
                if (node is not null && node.Owner == me) delta++;
            }
            if (_store.OwnedBy(me) + delta > Quotas.NodesPerDomain) return XsErrno.ENOSPC;
        }
        foreach (var (path, node) in tx.Changes)
        {
            if (node is null) _store.Remove(path); else _store.Put(path, node);
        }
        foreach (var ev in tx.PendingEvents) FireNow(ev);
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoGetDomainPath(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var arg)) return XsErrno.EINVAL;
        reply = Encoding.ASCII.GetBytes(XenStorePath.DomainPath(unchecked((uint)Atoi(arg))) + "\0");
        return XsErrno.None;
    }

    private XsErrno DoIsDomainIntroduced(Request r, out byte[] reply)
    {
        reply = [];
        if (!OneArg(r.Payload, out var arg)) return XsErrno.EINVAL;
        int domid = Atoi(arg);
        bool introduced = domid == XsWire.DomidSelf || domid == 0 || (domid > 0 && domid < XsWire.DomidFirstReserved && _domains.ContainsKey((ushort)domid));
        reply = introduced ? "T\0"u8.ToArray() : "F\0"u8.ToArray();
        return XsErrno.None;
    }

    /// <summary>INTRODUCE "&lt;domid&gt;|&lt;gfn&gt;|&lt;evtchn&gt;|": maps the guest's ring through the configured mapper.</summary>
    private XsErrno DoIntroduce(Request r, out byte[] reply)
    {
        reply = [];
        var strings = Strings(r.Payload);
        if (strings.Count < 3) return XsErrno.EINVAL;
        int domid = Atoi(r.Payload.AsSpan(strings[0].Start, strings[0].Length));
        long gfn = ParseSignedDecimal(r.Payload.AsSpan(strings[1].Start, strings[1].Length));
        int port = Atoi(r.Payload.AsSpan(strings[2].Start, strings[2].Length));
        if (port <= 0) return XsErrno.EINVAL;
        if (domid <= 0 || domid >= XsWire.DomidFirstReserved) return XsErrno.EINVAL;
        if (_domains.TryGetValue((ushort)domid, out var existing))
        {
            // Re-introduction resets the connection (xenstored's domain_conn_reset) without a new @introduceDomain.
            if (existing.Ring is { } ring0)
            {
                ring0.Watches.Clear();
                ring0.Transactions.Clear();
                ring0.ClearOutput();
                ring0.RequestResetFromIntroduce();
                Kick(ring0);
            }
            reply = Ok;
            return XsErrno.None;
        }
        if (_ringMapper is null) return XsErrno.ENOSYS;
        XenStoreRingEndpoint? endpoint;
        try
        {
            endpoint = _ringMapper.MapRing((ushort)domid, unchecked((ulong)gfn), (uint)port);
        }
        catch (Exception e)
        {
            _log?.Invoke($"xenstored: mapping the ring of domain {domid} failed: {e.Message}");
            return XsErrno.EINVAL;
        }
        if (endpoint is null) return XsErrno.EINVAL;
        var ring = IntroduceLocked((ushort)domid, endpoint.Page, endpoint.Notify);
        endpoint.BindEvents?.Invoke(ring.OnEvent);
        reply = Ok;
        return XsErrno.None;
    }

    private static long ParseSignedDecimal(ReadOnlySpan<byte> s)
    {
        bool neg = s.Length > 0 && s[0] == '-';
        long v = 0;
        for (int i = neg ? 1 : 0; i < s.Length && s[i] >= '0' && s[i] <= '9'; i++)
            v = Math.Min(v * 10 + (s[i] - '0'), long.MaxValue / 10);
        return neg ? -v : v;
    }

    /// <summary>RELEASE and RESUME take a connected domain other than Dom0 (xenstored's onearg_domain).</summary>
    private XsErrno OneArgDomain(Request r, out DomainRecord? domain)
    {
        domain = null;
        if (!OneArg(r.Payload, out var arg)) return XsErrno.EINVAL;
        int domid = Atoi(arg);
        if (domid == 0) return XsErrno.EINVAL;
        if (domid < 0 || domid > ushort.MaxValue || !_domains.TryGetValue((ushort)domid, out domain)) return XsErrno.ENOENT;
        return XsErrno.None;
    }

    private XsErrno DoRelease(Request r, out byte[] reply)
    {
        reply = [];
        var err = OneArgDomain(r, out var domain);
        if (err != XsErrno.None) return err;
        ReleaseLocked(domain!.Domid);
        reply = Ok;
        return XsErrno.None;
    }

    private XsErrno DoResume(Request r, out byte[] reply)
    {
        reply = [];
        var err = OneArgDomain(r, out var domain);
        if (err != XsErrno.None) return err;
        domain!.Shutdown = false;
        reply = Ok;
        return XsErrno.None;
    }

    /// <summary>SET_TARGET "&lt;domid&gt;|&lt;tdomid&gt;|": both must be introduced; domid then acts with tdomid's rights.</summary>
    private XsErrno DoSetTarget(Request r, out byte[] reply)
    {
        reply = [];
        var strings = Strings(r.Payload);
        if (strings.Count < 2) return XsErrno.EINVAL;
        int domid = Atoi(r.Payload.AsSpan(strings[0].Start, strings[0].Length));
        int target = Atoi(r.Payload.AsSpan(strings[1].Start, strings[1].Length));
        if (domid <= 0 || domid > ushort.MaxValue || !_domains.TryGetValue((ushort)domid, out var d)) return XsErrno.ENOENT;
        if (target < 0 || target > ushort.MaxValue || (target != 0 && !_domains.ContainsKey((ushort)target))) return XsErrno.ENOENT;
        d.Target = (ushort)target;
        reply = Ok;
        return XsErrno.None;
    }

    /// <summary>CONTROL "&lt;command&gt;|[&lt;parameters&gt;|]" (XS_DEBUG's successor): the basic commands of docs/misc/xenstore.txt.</summary>
    private XsErrno DoControl(Request r, out byte[] reply)
    {
        reply = [];
        var strings = Strings(r.Payload);
        if (strings.Count == 0) return XsErrno.EINVAL;
        var args = strings.Select(s => Latin1(r.Payload.AsSpan(s.Start, s.Length))).ToArray();
        switch (args[0])
        {
            case "help":
                reply = Encoding.ASCII.GetBytes("check\nlog [on|off]\nprint <string>\nquota [<domid>]\nhelp\n\0");
                return XsErrno.None;
            case "check":
                if (!CheckStore()) return XsErrno.EIO;
                reply = Ok;
                return XsErrno.None;
            case "log":
                if (args.Length > 1 && args[1] != "on" && args[1] != "off") return XsErrno.EINVAL;
                reply = Ok;
                return XsErrno.None;
            case "print":
                if (args.Length < 2) return XsErrno.EINVAL;
                _log?.Invoke("xenstored: " + args[1]);
                reply = Ok;
                return XsErrno.None;
            case "quota":
                if (args.Length > 1)
                {
                    int domid = Atoi(Encoding.Latin1.GetBytes(args[1]));
                    if (domid < 0 || domid > ushort.MaxValue) return XsErrno.ENOENT;
                    reply = Encoding.ASCII.GetBytes($"Domain {domid}:\nnodes: {_store.OwnedBy((ushort)domid)} (max {Quotas.NodesPerDomain})\n\0");
                }
                else
                {
                    reply = Encoding.ASCII.GetBytes(
                        $"nodes: {Quotas.NodesPerDomain}\nwatches: {Quotas.WatchesPerDomain}\ntransactions: {Quotas.TransactionsPerDomain}\n" +
                        $"transaction-nodes: {Quotas.NodesPerTransaction}\nnode-permissions: {Quotas.PermissionsPerNode}\n" +
                        $"node-size: {Quotas.NodeSize}\noutstanding: {Quotas.OutstandingRequests}\n\0");
                }
                return XsErrno.None;
            default:
                return XsErrno.EINVAL;
        }
    }

    /// <summary>Every child named by a node exists and every node but the root and the @ nodes is named by its parent.</summary>
    private bool CheckStore()
    {
        foreach (var (path, node) in _store.All)
        {
            foreach (var c in node.Children)
                if (_store.Peek(XenStorePath.Child(path, c)) is null) return false;
            if (path == "/" || path[0] == '@') continue;
            var parent = _store.Peek(XenStorePath.Parent(path));
            if (parent is null || Array.IndexOf(parent.Children, XenStorePath.BaseName(path)) < 0) return false;
        }
        return true;
    }
}
