namespace Paravirt.Domains.XenStore;

/// <summary>
/// The errno values xenstored may answer with: the xsd_errors table of xs_wire.h, numbered as
/// xen/include/public/errno.h. On the wire only the name travels ("ENOENT"), never the number.
/// </summary>
public enum XsErrno
{
    None = 0,
    EPERM = 1,
    ENOENT = 2,
    EIO = 5,
    E2BIG = 7,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EBUSY = 16,
    EEXIST = 17,
    EISDIR = 21,
    EINVAL = 22,
    ENOSPC = 28,
    EROFS = 30,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    EISCONN = 106,
}

public static class XsErrors
{
    /// <summary>
    /// The string sent in an XS_ERROR payload. Errors missing from xs_wire.h's table (EPERM) go out as
    /// "EINVAL", as xenstored's send_error does for any untranslatable errno.
    /// </summary>
    public static string WireName(XsErrno errno) => errno switch
    {
        XsErrno.EINVAL => "EINVAL",
        XsErrno.EACCES => "EACCES",
        XsErrno.EEXIST => "EEXIST",
        XsErrno.EISDIR => "EISDIR",
        XsErrno.ENOENT => "ENOENT",
        XsErrno.ENOMEM => "ENOMEM",
        XsErrno.ENOSPC => "ENOSPC",
        XsErrno.EIO => "EIO",
        XsErrno.ENOTEMPTY => "ENOTEMPTY",
        XsErrno.ENOSYS => "ENOSYS",
        XsErrno.EROFS => "EROFS",
        XsErrno.EBUSY => "EBUSY",
        XsErrno.EAGAIN => "EAGAIN",
        XsErrno.EISCONN => "EISCONN",
        XsErrno.E2BIG => "E2BIG",
        _ => "EINVAL",
    };

    /// <summary>Reverse of <see cref="WireName"/> for clients reading an XS_ERROR payload.</summary>
    public static XsErrno FromWireName(string name) => name switch
    {
        "EINVAL" => XsErrno.EINVAL,
        "EACCES" => XsErrno.EACCES,
        "EEXIST" => XsErrno.EEXIST,
        "EISDIR" => XsErrno.EISDIR,
        "ENOENT" => XsErrno.ENOENT,
        "ENOMEM" => XsErrno.ENOMEM,
        "ENOSPC" => XsErrno.ENOSPC,
        "EIO" => XsErrno.EIO,
        "ENOTEMPTY" => XsErrno.ENOTEMPTY,
        "ENOSYS" => XsErrno.ENOSYS,
        "EROFS" => XsErrno.EROFS,
        "EBUSY" => XsErrno.EBUSY,
        "EAGAIN" => XsErrno.EAGAIN,
        "EISCONN" => XsErrno.EISCONN,
        "E2BIG" => XsErrno.E2BIG,
        _ => XsErrno.EINVAL,
    };
}

/// <summary>The documented error of the in-process xenstore API: the request was refused with <see cref="Errno"/>.</summary>
public sealed class XenStoreException : Exception
{
    public XenStoreException(XsErrno errno, string operation, string? path)
        : base($"xenstore {operation}{(path is null ? "" : " " + path)} failed: {XsErrors.WireName(errno)}")
    {
        Errno = errno;
    }

    public XsErrno Errno { get; }
}
