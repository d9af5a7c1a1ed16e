namespace Paravirt.Domains.XenStore;

/// <summary>What the hypervisor side hands xenstored for one guest's ring: the page, a kick, and a way to be kicked.</summary>
/// <param name="Page">The guest's xenstore_domain_interface page.</param>
/// <param name="Notify">Signals the guest's xenstore event channel.</param>
/// <param name="BindEvents">Called once with the connection's event handler, to be invoked whenever the guest signals.</param>
public sealed record XenStoreRingEndpoint(IRingPage Page, Action Notify, Action<Action>? BindEvents);

/// <summary>
/// Maps a guest's store ring for an XS_INTRODUCE message (xenstored maps GNTTAB_RESERVED_XENSTORE and binds the
/// event channel). Called under the daemon's lock: it must not block nor call back into the daemon.
/// </summary>
public interface IXenStoreRingMapper
{
    /// <summary>Returns null when the domain, frame or event channel is not valid.</summary>
    XenStoreRingEndpoint? MapRing(ushort domid, ulong gfn, uint eventChannel);
}

public sealed partial class XenStoreDaemon
{
    /// <summary>
    /// Starts talking to a guest over its ring (the in-process form of XS_INTRODUCE) and fires @introduceDomain.
    /// Wire the returned connection's <see cref="XenStoreRingConnection.OnEvent"/> to the guest's event channel.
    /// Introducing an already introduced domain replaces its ring connection (watches and transactions are dropped).
    /// </summary>
    /// <exception cref="XenStoreException">EINVAL for Dom0 or a reserved domid.</exception>
    public XenStoreRingConnection IntroduceDomain(ushort domid, IRingPage page, Action notify)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(notify);
        if (domid == 0 || domid >= XsWire.DomidFirstReserved)
            throw new XenStoreException(XsErrno.EINVAL, "introduce", XenStorePath.DomainPath(domid));
        XenStoreRingConnection ring;
        XenStoreConnection[] kicks;
        lock (_gate)
        {
            ring = IntroduceLocked(domid, page, notify);
            kicks = TakeKicks();
        }
        Deliver(kicks);
        return ring;
    }

    /// <summary>
    /// Stops talking to a domain (the in-process form of XS_RELEASE, also for domain death): its connection, watches
    /// and transactions go, the nodes it owns are removed, and @releaseDomain fires. False if it was not introduced.
    /// </summary>
    public bool ReleaseDomain(ushort domid)
    {
        bool released;
        XenStoreConnection[] kicks;
        lock (_gate)
        {
            released = _domains.ContainsKey(domid);
            if (released) ReleaseLocked(domid);
            kicks = TakeKicks();
        }
        Deliver(kicks);
        return released;
    }

    /// <summary>Whether the domain is introduced (IS_DOMAIN_INTRODUCED).</summary>
    public bool IsDomainIntroduced(ushort domid)
    {
        lock (_gate) return domid == 0 || _domains.ContainsKey(domid);
    }

    private XenStoreRingConnection IntroduceLocked(ushort domid, IRingPage page, Action notify)
    {
        bool isNew = true;
        if (_domains.TryGetValue(domid, out var existing))
        {
            isNew = false;
            if (existing.Ring is not null) DisconnectLocked(existing.Ring);
        }
        var record = existing ?? new DomainRecord(domid);
        var ring = new XenStoreRingConnection(this, domid, page, notify);
        record.Ring = ring;
        _domains[domid] = record;
        if (!ring.IsClosed) _connections.Add(ring);
        if (isNew) FireSpecial(SpecialPaths.IntroduceDomain);
        return ring;
    }

    private void ReleaseLocked(ushort domid)
    {
        if (!_domains.Remove(domid, out var record)) return;
        // The released domain's own watches go first so removing its nodes does not notify it.
        if (record.Ring is not null) DisconnectLocked(record.Ring);
        ReleaseManagedConnectionLocked(domid);
        foreach (var d in _domains.Values)
            if (d.Target == domid) d.Target = null;
        RemoveOwnedNodes(domid);
        FireSpecial(SpecialPaths.ReleaseDomain);
    }

    /// <summary>
    /// xenstored deletes the nodes a dead domain owns (unless run with --keep-orphans) and forgets permission
    /// entries naming it, so a later domain with the same id inherits nothing.
    /// </summary>
    private void RemoveOwnedNodes(ushort domid)
    {
        var roots = new List<string>();
        var stack = new Stack<string>();
        stack.Push("/");
        while (stack.Count > 0)
        {
            var path = stack.Pop();
            var node = _store.Peek(path);
            if (node is null) continue;
            if (path != "/" && node.Owner == domid) { roots.Add(path); continue; }
            foreach (var c in node.Children) stack.Push(XenStorePath.Child(path, c));
        }
        foreach (var root in roots) RemoveSubtree(_store, null, root);

        var stale = new List<(string, XsNode)>();
        foreach (var (path, node) in _store.All)
        {
            bool mentions = false;
            for (int i = 1; i < node.Perms.Length; i++) mentions |= node.Perms[i].DomainId == domid;
            if (mentions) stale.Add((path, node));
        }
        foreach (var (path, node) in stale)
        {
            var kept = new List<XsPermission> { node.Perms[0] };
            for (int i = 1; i < node.Perms.Length; i++)
                if (node.Perms[i].DomainId != domid) kept.Add(node.Perms[i]);
            _store.Put(path, node.WithPerms([.. kept]));
        }
    }
}
