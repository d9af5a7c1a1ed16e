namespace Paravirt.Domains.XenStore;

/// <summary>
/// A registered watch. <see cref="Node"/> is canonical (absolute or "@special"); <see cref="PrefixLength"/> is how
/// much of an event path to cut so a watch set with a relative path gets relative event paths (xenstore.txt WATCH_EVENT).
/// </summary>
internal sealed class XsWatch(string node, string token, int prefixLength)
{
    public string Node { get; } = node;
    public string Token { get; } = token;
    public int PrefixLength { get; } = prefixLength;
}

/// <summary>Per-domain state of an introduced domain (xenstored's struct domain).</summary>
internal sealed class DomainRecord(ushort domid)
{
    public ushort Domid { get; } = domid;
    public XenStoreRingConnection? Ring { get; set; }

    /// <summary>SET_TARGET: this domain acts with the target domain's rights (stub device models).</summary>
    public ushort? Target { get; set; }

    /// <summary>RESUME clears it; kept so @releaseDomain is sent once per shutdown.</summary>
    public bool Shutdown { get; set; }
}
