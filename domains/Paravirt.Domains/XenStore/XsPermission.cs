using System.Globalization;

namespace Paravirt.Domains.XenStore;

/// <summary>Access bits of a node permission entry (XS_PERM_* of xenstore_lib.h).</summary>
[Flags]
public enum XsPerm : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Both = Read | Write,
    /// <summary>Internal only: the caller owns the node (needed for SET_PERMS).</summary>
    Owner = 8,
}

/// <summary>
/// One entry of a node's permission list. As docs/misc/xenstore.txt says, the first entry names the owner and
/// the access every domain not listed later gets; later entries give a domain its own access.
/// </summary>
public readonly record struct XsPermission(ushort DomainId, XsPerm Access)
{
    /// <summary>The wire form: 'n' | 'r' | 'w' | 'b' followed by the decimal domid.</summary>
    public override string ToString() => (Access & XsPerm.Both) switch
    {
        XsPerm.Read => "r",
        XsPerm.Write => "w",
        XsPerm.Both => "b",
        _ => "n",
    } + DomainId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses "&lt;n|r|w|b&gt;&lt;domid&gt;"; domid is 0..65535 in decimal.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out XsPermission permission)
    {
        permission = default;
        if (text.Length < 2 || text.Length > 6) return false;
        XsPerm access;
        switch (text[0])
        {
            case 'n': access = XsPerm.None; break;
            case 'r': access = XsPerm.Read; break;
            case 'w': access = XsPerm.Write; break;
            case 'b': access = XsPerm.Both; break;
            default: return false;
        }
        uint id = 0;
        foreach (var c in text[1..])
        {
            if (c < '0' || c > '9') return false;
            id = id * 10 + (uint)(c - '0');
        }
        if (id > ushort.MaxValue) return false;
        permission = new XsPermission((ushort)id, access);
        return true;
    }
}
