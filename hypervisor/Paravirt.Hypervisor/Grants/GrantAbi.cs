namespace Paravirt.Hypervisor.Grants;

/// <summary>GNTST_*: per-operation status codes of xen/include/public/grant_table.h.</summary>
public static class GrantStatus
{
    public const short Okay = 0, GeneralError = -1, BadDomain = -2, BadGntref = -3, BadHandle = -4,
        BadVirtAddr = -5, BadDevAddr = -6, NoDeviceSpace = -7, PermissionDenied = -8, BadPage = -9,
        BadCopyArg = -10, AddressTooBig = -11, Eagain = -12, NoSpace = -13;
}

/// <summary>GTF_*: the flags word of a v1 grant entry (struct grant_entry_v1 { u16 flags; domid_t domid; u32 frame; }).</summary>
public static class GrantFlags
{
    public const ushort Invalid = 0, PermitAccess = 1, AcceptTransfer = 2, TypeMask = 3,
        Readonly = 1 << 2, Reading = 1 << 3, Writing = 1 << 4;
}

/// <summary>GNTMAP_*: flags of gnttab_map_grant_ref.</summary>
public static class GrantMapFlags
{
    public const uint DeviceMap = 1, HostMap = 2, Readonly = 4, ApplicationMap = 8, ContainsPte = 16;
    /// <summary>_GNTMAP_guest_avail0: flag bits from here on are copied into the mapping PTE's available bits.</summary>
    public const int GuestAvail0 = 16;
}

/// <summary>GNTCOPY_*: flags of gnttab_copy.</summary>
public static class GrantCopyFlags
{
    public const ushort SourceGref = 1, DestGref = 2;
}

/// <summary>One side of a gnttab_copy (struct gnttab_copy_ptr): a grant reference of <see cref="Domain"/> or, with
/// the gref flag clear, a frame of the caller itself (a machine frame for PV).</summary>
public readonly record struct GrantCopyPointer(ulong RefOrFrame, ushort Domain, ushort Offset);
