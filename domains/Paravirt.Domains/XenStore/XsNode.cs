namespace Paravirt.Domains.XenStore;

/// <summary>
/// One node of the store, immutable: every change makes a new node, so a transaction can keep the version it
/// read and the store can compare generations at commit.
/// </summary>
internal sealed class XsNode
{
    public XsNode(byte[] value, XsPermission[] perms, string[] children, ulong generation = 0)
    {
        Value = value;
        Perms = perms;
        Children = children;
        Generation = generation;
    }

    public byte[] Value { get; }

    /// <summary>Never empty: entry 0 is the owner and the default access.</summary>
    public XsPermission[] Perms { get; }

    /// <summary>Leaf names of the children in creation order (xenstored keeps them in that order).</summary>
    public string[] Children { get; }

    /// <summary>Store generation count of the last change (DIRECTORY_PART's &lt;gencnt&gt;, transaction conflicts).</summary>
    public ulong Generation { get; }

    public ushort Owner => Perms[0].DomainId;

    /// <summary>Bytes of the NUL-separated children list (xenstored's childlen).</summary>
    public int ChildrenLength
    {
        get
        {
            int len = 0;
            foreach (var c in Children) len += c.Length + 1;
            return len;
        }
    }

    /// <summary>
    /// xenstored's accounted node size (calc_node_acc_size): a 16-byte node_hdr, 8 bytes per xs_permissions entry,
    /// the value and the children list. Compared against the node-size quota.
    /// </summary>
    public int AccountedSize => 16 + 8 * Perms.Length + Value.Length + ChildrenLength;

    public XsNode WithGeneration(ulong generation) => new(Value, Perms, Children, generation);
    public XsNode WithValue(byte[] value) => new(value, Perms, Children, Generation);
    public XsNode WithPerms(XsPermission[] perms) => new(Value, perms, Children, Generation);
    public XsNode WithChild(string leaf) => new(Value, Perms, [.. Children, leaf], Generation);

    public XsNode WithoutChild(string leaf)
    {
        int i = Array.IndexOf(Children, leaf);
        if (i < 0) return this;
        var children = new string[Children.Length - 1];
        Array.Copy(Children, 0, children, 0, i);
        Array.Copy(Children, i + 1, children, i, Children.Length - i - 1);
        return new XsNode(Value, Perms, children, Generation);
    }
}
