using System.Runtime.InteropServices;

namespace Paravirt.Domains.XenStore;

/// <summary>
/// Message types of the xenstore wire protocol: enum xsd_sockmsg_type in xen/include/public/io/xs_wire.h.
/// XS_CONTROL is the renamed XS_DEBUG (value 0), see docs/misc/xenstore.txt.
/// </summary>
public enum XsMessageType : uint
{
    Control = 0,
    Directory = 1,
    Read = 2,
    GetPerms = 3,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    Introduce = 8,
    Release = 9,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    SetPerms = 14,
    WatchEvent = 15,
    Error = 16,
    IsDomainIntroduced = 17,
    Resume = 18,
    SetTarget = 19,
    Restrict = 20,
    ResetWatches = 21,
    DirectoryPart = 22,

    /// <summary>XS_INVALID: guaranteed to remain an invalid type.</summary>
    Invalid = 0xffff,
}

/// <summary>Numbers of xs_wire.h and docs/misc/xenstore-ring.txt.</summary>
public static class XsWire
{
    /// <summary>XENSTORE_PAYLOAD_MAX: limit of xsd_sockmsg.len in both directions.</summary>
    public const int PayloadMax = 4096;

    /// <summary>XENSTORE_ABS_PATH_MAX: absolute paths longer than this are refused.</summary>
    public const int AbsPathMax = 3072;

    /// <summary>XENSTORE_REL_PATH_MAX: limit for paths below /local/domain/&lt;id&gt;/ (also xenstored's path-max quota).</summary>
    public const int RelPathMax = 2048;

    /// <summary>sizeof(struct xsd_sockmsg): type, req_id, tx_id, len, each uint32.</summary>
    public const int HeaderSize = 16;

    /// <summary>XENSTORE_RING_SIZE: bytes in each of the two circular buffers.</summary>
    public const int RingSize = 1024;

    /// <summary>DOMID_FIRST_RESERVED (xen.h): ids at and above are special, never a real domain.</summary>
    public const int DomidFirstReserved = 0x7FF0;

    /// <summary>DOMID_SELF (xen.h); IS_DOMAIN_INTRODUCED answers T for it.</summary>
    public const int DomidSelf = 0x7FF0;
}

/// <summary>
/// struct xsd_sockmsg of xs_wire.h: the 16-byte header before every payload, in host (little-endian) order.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct XsSockMsgHeader
{
    public uint Type;
    public uint ReqId;
    public uint TxId;
    public uint Len;

    public static XsSockMsgHeader Read(ReadOnlySpan<byte> bytes) => MemoryMarshal.Read<XsSockMsgHeader>(bytes);

    public readonly void Write(Span<byte> destination)
    {
        var copy = this;
        MemoryMarshal.Write(destination, in copy);
    }
}

/// <summary>
/// Layout of struct xenstore_domain_interface (xs_wire.h; offsets as docs/misc/xenstore-ring.txt tabulates).
/// </summary>
public static class XsRingLayout
{
    public const int Req = 0;
    public const int Rsp = 1024;
    public const int ReqCons = 2048;
    public const int ReqProd = 2052;
    public const int RspCons = 2056;
    public const int RspProd = 2060;
    public const int ServerFeatures = 2064;
    public const int Connection = 2068;
    public const int Error = 2072;

    /// <summary>Bytes of the page the interface occupies (it lives in a 4 KiB page).</summary>
    public const int Size = 2076;

    /// <summary>XENSTORE_SERVER_FEATURE_RECONNECTION (bit 0).</summary>
    public const uint FeatureReconnection = 1;

    /// <summary>XENSTORE_SERVER_FEATURE_ERROR (bit 1): the connection error indicator.</summary>
    public const uint FeatureError = 2;

    /// <summary>XENSTORE_CONNECTED: the steady state.</summary>
    public const uint Connected = 0;

    /// <summary>XENSTORE_RECONNECT: the guest asked for a ring reset.</summary>
    public const uint Reconnect = 1;
}

/// <summary>Values of the connection error indicator (docs/misc/xenstore-ring.txt, XENSTORE_ERROR_*).</summary>
public enum XsRingError : uint
{
    None = 0,
    /// <summary>Communication problems (event channel not functional).</summary>
    Comm = 1,
    /// <summary>Inconsistent producer or consumer offset.</summary>
    RingIdx = 2,
    /// <summary>Protocol violation (client data package too long).</summary>
    Proto = 3,
}
