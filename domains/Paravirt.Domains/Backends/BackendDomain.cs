using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Domains.Backends;

/// <summary>
/// The managed domain a back-end runs in (Dom0 or a driver domain) and its way to xenstore. Every operation a
/// back-end performs goes through the hypervisor's typed operations with this domain's identity, so a back-end
/// sees only the frames front-ends granted to this domain.
/// </summary>
public sealed class BackendDomain
{
    public BackendDomain(Domain domain, XenStoreDaemon xenStore, Action<string>? log = null)
    {
        if (!domain.IsManaged) throw new ArgumentException($"{domain} is not a managed domain: back-ends run as C# code in a managed domain", nameof(domain));
        Domain = domain;
        XenStore = xenStore;
        Log = log ?? (msg => domain.Hypervisor.Console.Log(msg));
    }

    public Domain Domain { get; }
    public ushort Id => Domain.Id;
    public XenStoreDaemon XenStore { get; }
    /// <summary>One line for `xl dmesg` (the hypervisor console by default).</summary>
    public Action<string> Log { get; }

    /// <summary>Map grant <paramref name="gref"/> of <paramref name="granter"/>; null with the GNTST_* status when refused.</summary>
    public GrantMapping? MapGrant(ushort granter, uint gref, bool readOnly, out short status) =>
        GrantMapping.TryMap(this, granter, gref, readOnly, out status);

    /// <summary>GNTTABOP_copy from a front-end's grant into back-end memory; GNTST_okay (0) or the failure status.</summary>
    public short CopyFromGrant(ushort granter, uint gref, int offset, Span<byte> destination)
    {
        if ((uint)offset > 4096) return GrantStatus.BadCopyArg;
        return GrantTable.CopyFromGrant(Domain, granter, gref, (ushort)offset, destination);
    }

    /// <summary>GNTTABOP_copy from back-end memory into a front-end's writable grant.</summary>
    public short CopyToGrant(ushort granter, uint gref, int offset, ReadOnlySpan<byte> source)
    {
        if ((uint)offset > 4096) return GrantStatus.BadCopyArg;
        return GrantTable.CopyToGrant(Domain, granter, gref, (ushort)offset, source);
    }

    /// <summary>xenstore read as this domain; null when the node does not exist or is not readable.</summary>
    public string? TryRead(string path)
    {
        try { return XenStore.ReadString(Id, path); }
        catch (XenStoreException) { return null; }
    }

    public void Write(string path, string value, uint tx = 0) => XenStore.Write(Id, path, value, tx);
}
