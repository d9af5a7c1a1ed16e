namespace Paravirt.Domains.XenStore;

// The in-process API for Dom0's managed code: each call names the domain it acts for, and goes through the same
// request path (and so the same permission checks and quotas) as a guest's ring.
public sealed partial class XenStoreDaemon
{
    private readonly Dictionary<ushort, XenStoreLocalConnection> _managed = new();
    private readonly Dictionary<(ushort, string), Action<XsWatchEvent>> _watchHandlers = new();

    /// <summary>A new in-process connection acting for <paramref name="domid"/> (its own watches and transactions).</summary>
    public XenStoreLocalConnection Connect(ushort domid)
    {
        var c = new XenStoreLocalConnection(this, domid);
        Register(c);
        return c;
    }

    /// <summary>The shared in-process connection used by the domid-taking methods below.</summary>
    private XenStoreLocalConnection Managed(ushort domid)
    {
        lock (_gate)
        {
            if (_managed.TryGetValue(domid, out var c) && !c.IsClosed) return c;
            c = new XenStoreLocalConnection(this, domid);
            c.WatchFired = ev => DispatchManaged(domid, ev);
            _connections.Add(c);
            _managed[domid] = c;
            return c;
        }
    }

    private void DispatchManaged(ushort domid, XsWatchEvent ev)
    {
        Action<XsWatchEvent>? handler;
        lock (_gate) _watchHandlers.TryGetValue((domid, ev.Token), out handler);
        handler?.Invoke(ev);
    }

    /// <exception cref="XenStoreException">ENOENT, EACCES, EINVAL, ...</exception>
    public byte[] Read(ushort caller, string path, uint tx = 0) => Managed(caller).Read(path, tx);

    public string ReadString(ushort caller, string path, uint tx = 0) => Managed(caller).ReadString(path, tx);

    public void Write(ushort caller, string path, ReadOnlySpan<byte> value, uint tx = 0) => Managed(caller).Write(path, value, tx);

    public void Write(ushort caller, string path, string value, uint tx = 0) => Managed(caller).Write(path, value, tx);

    public void Mkdir(ushort caller, string path, uint tx = 0) => Managed(caller).Mkdir(path, tx);

    public void Rm(ushort caller, string path, uint tx = 0) => Managed(caller).Rm(path, tx);

    public string[] Directory(ushort caller, string path, uint tx = 0) => Managed(caller).Directory(path, tx);

    public XsPermission[] GetPerms(ushort caller, string path, uint tx = 0) => Managed(caller).GetPerms(path, tx);

    public void SetPerms(ushort caller, string path, IReadOnlyList<XsPermission> perms, uint tx = 0) => Managed(caller).SetPerms(path, perms, tx);

    public uint TransactionStart(ushort caller) => Managed(caller).TransactionStart();

    /// <summary>False when the commit conflicted (EAGAIN): redo the transaction.</summary>
    public bool TransactionEnd(ushort caller, uint tx, bool commit) => Managed(caller).TransactionEnd(tx, commit);

    /// <summary>
    /// Sets a watch for <paramref name="caller"/>; <paramref name="handler"/> gets its events (including the initial
    /// one), keyed by token: watches of one caller sharing a token share the handler registered last.
    /// </summary>
    public void Watch(ushort caller, string path, string token, Action<XsWatchEvent> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var conn = Managed(caller);
        lock (_gate) _watchHandlers[(caller, token)] = handler;
        try
        {
            conn.Watch(path, token);
        }
        catch (XenStoreException e) when (e.Errno != XsErrno.EEXIST)
        {
            lock (_gate)
            {
                if (!conn.Watches.Exists(w => w.Token == token)) _watchHandlers.Remove((caller, token));
            }
            throw;
        }
    }

    public void Unwatch(ushort caller, string path, string token)
    {
        var conn = Managed(caller);
        conn.Unwatch(path, token);
        lock (_gate)
        {
            if (!conn.Watches.Exists(w => w.Token == token)) _watchHandlers.Remove((caller, token));
        }
    }
}
