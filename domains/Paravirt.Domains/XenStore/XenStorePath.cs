using System.Text;

namespace Paravirt.Domains.XenStore;

/// <summary>
/// Path rules of docs/misc/xenstore.txt: characters A-Z a-z 0-9 and -/_@, no doubled or trailing slash
/// (except the root "/"), nothing empty; relative paths hang below /local/domain/&lt;caller&gt;.
/// </summary>
public static class XenStorePath
{
    public static string DomainPath(uint domid) => "/local/domain/" + domid.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static bool IsValidChar(byte b) =>
        (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
        b == '-' || b == '/' || b == '_' || b == '@';

    /// <summary>
    /// Turns a request's path argument into the canonical absolute path, or says why it is invalid (EINVAL).
    /// <paramref name="allowSpecial"/> admits "@..." names (watches and permissions of @introduceDomain etc.).
    /// <paramref name="limitRelative"/> applies the path-max quota (XENSTORE_REL_PATH_MAX) to the part below
    /// /local/domain/&lt;id&gt;/, which xenstored enforces for unprivileged callers.
    /// </summary>
    public static XsErrno Canonicalize(ReadOnlySpan<byte> raw, ushort callerDomid, bool allowSpecial, bool limitRelative, out string path)
    {
        path = "";
        foreach (var b in raw)
            if (!IsValidChar(b)) return XsErrno.EINVAL;
        if (raw.Length > 0 && raw[0] == '@' && !allowSpecial) return XsErrno.EINVAL;

        string name = raw.Length > 0 && (raw[0] == '/' || raw[0] == '@')
            ? Encoding.Latin1.GetString(raw)
            : DomainPath(callerDomid) + "/" + Encoding.Latin1.GetString(raw);

        if (name.Length > 1 && name[^1] == '/') return XsErrno.EINVAL;
        if (name.Contains("//", StringComparison.Ordinal)) return XsErrno.EINVAL;
        if (name.Length > XsWire.AbsPathMax) return XsErrno.EINVAL;
        if (limitRelative && name.Length - LocalPrefixLength(name) > XsWire.RelPathMax) return XsErrno.EINVAL;
        path = name;
        return XsErrno.None;
    }

    /// <summary>Length of a leading "/local/domain/&lt;up to 5 digits&gt;/", else 0 (xenstored's local_off).</summary>
    internal static int LocalPrefixLength(string name)
    {
        const string prefix = "/local/domain/";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return 0;
        int i = prefix.Length, digits = 0;
        while (i < name.Length && digits < 5 && char.IsAsciiDigit(name[i])) { i++; digits++; }
        if (digits == 0 || i >= name.Length || name[i] != '/') return 0;
        return i + 1;
    }

    /// <summary>Parent of a canonical path; "/" for top-level names and for "@..." special names.</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>Last component of a canonical path other than "/".</summary>
    public static string BaseName(string path) => path[(path.LastIndexOf('/') + 1)..];

    public static string Child(string parent, string child) => parent == "/" ? "/" + child : parent + "/" + child;

    /// <summary>docs/misc/xenstore.txt: child is below parent if equal, if parent is "/", or if parent + "/" prefixes child.</summary>
    public static bool IsChildOf(string child, string parent)
    {
        if (parent == "/") return true;
        if (!child.StartsWith(parent, StringComparison.Ordinal)) return false;
        return child.Length == parent.Length || child[parent.Length] == '/';
    }
}
