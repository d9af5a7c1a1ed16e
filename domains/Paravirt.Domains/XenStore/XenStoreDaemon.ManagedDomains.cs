namespace Paravirt.Domains.XenStore;

// Managed domains other than Dom0 (driver domains): they talk to xenstored in-process, through the connection
// Managed(domid) opens, not over a ring. Introducing one records the domain (IS_DOMAIN_INTRODUCED, @introduceDomain);
// releasing it (ReleaseDomain, as for any domain) also closes that connection, so its watches and transactions go
// with it, its nodes are removed and permission entries naming it are dropped.
public sealed partial class XenStoreDaemon
{
    /// <summary>The in-process form of XS_INTRODUCE for a managed domain: no ring, its calls come through the domid-taking methods.</summary>
    /// <exception cref="XenStoreException">EINVAL for Dom0 or a reserved domid; EEXIST when already introduced.</exception>
    public void IntroduceManagedDomain(ushort domid)
    {
        if (domid == 0 || domid >= XsWire.DomidFirstReserved)
            throw new XenStoreException(XsErrno.EINVAL, "introduce", XenStorePath.DomainPath(domid));
        XenStoreConnection[] kicks;
        lock (_gate)
        {
            if (_domains.ContainsKey(domid)) throw new XenStoreException(XsErrno.EEXIST, "introduce", XenStorePath.DomainPath(domid));
            _domains[domid] = new DomainRecord(domid);
            FireSpecial(SpecialPaths.IntroduceDomain);
            kicks = TakeKicks();
        }
        Deliver(kicks);
    }

    /// <summary>Part of releasing a domain: its shared in-process connection and the handlers of its watches.</summary>
    private void ReleaseManagedConnectionLocked(ushort domid)
    {
        if (_managed.Remove(domid, out var c)) DisconnectLocked(c);
        foreach (var key in _watchHandlers.Keys.Where(k => k.Item1 == domid).ToList()) _watchHandlers.Remove(key);
    }
}
