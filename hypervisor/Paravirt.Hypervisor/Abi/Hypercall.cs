namespace Paravirt.Hypervisor.Abi;

/// <summary>Hypercall numbers: __HYPERVISOR_* of xen/include/public/xen.h.</summary>
public static class Hypercall
{
    public const int SetTrapTable = 0, MmuUpdate = 1, SetGdt = 2, StackSwitch = 3, SetCallbacks = 4,
        FpuTaskswitch = 5, SchedOpCompat = 6, PlatformOp = 7, SetDebugreg = 8, GetDebugreg = 9,
        UpdateDescriptor = 10, MemoryOp = 12, Multicall = 13, UpdateVaMapping = 14, SetTimerOp = 15,
        EventChannelOpCompat = 16, XenVersion = 17, ConsoleIo = 18, PhysdevOpCompat = 19, GrantTableOp = 20,
        VmAssist = 21, UpdateVaMappingOtherdomain = 22, Iret = 23, VcpuOp = 24, SetSegmentBase = 25,
        MmuextOp = 26, XsmOp = 27, NmiOp = 28, SchedOp = 29, CallbackOp = 30, XenoprofOp = 31,
        EventChannelOp = 32, PhysdevOp = 33, HvmOp = 34, Sysctl = 35, Domctl = 36, KexecOp = 37,
        TmemOp = 38, ArgoOp = 39, XenpmuOp = 40, DmOp = 41, HypfsOp = 42;

    /// <summary>The hypercall page holds 4096/32 = 128 entries of 32 bytes each.</summary>
    public const int PageEntries = 128, EntrySize = 32;
}

/// <summary>Error numbers of xen/include/public/errno.h (hypercalls return their negation).</summary>
public static class XenErrno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, ENOEXEC = 8,
        EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17,
        EXDEV = 18, ENODEV = 19, EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOSPC = 28, EROFS = 30,
        EMLINK = 31, EDOM = 33, ERANGE = 34, EDEADLK = 35, ENAMETOOLONG = 36, ENOLCK = 37, ENOSYS = 38,
        ENOTEMPTY = 39, ENODATA = 61, ETIME = 62, EBADMSG = 74, EOVERFLOW = 75, EILSEQ = 84, ERESTART = 85,
        ENOTSOCK = 88, EMSGSIZE = 90, EOPNOTSUPP = 95, EADDRINUSE = 98, EADDRNOTAVAIL = 99, ENOBUFS = 105,
        EISCONN = 106, ENOTCONN = 107, ETIMEDOUT = 110, ECONNREFUSED = 111;
}

/// <summary>Domain ids: DOMID_* of xen.h.</summary>
public static class DomId
{
    public const ushort FirstReserved = 0x7FF0, Self = 0x7FF0, Io = 0x7FF1, Xen = 0x7FF2, Cow = 0x7FF3,
        Invalid = 0x7FF4, Idle = 0x7FFF;
}

/// <summary>x86-64 PV constants of xen/include/public/arch-x86/xen-x86_64.h.</summary>
public static class X86_64
{
    /// <summary>The range Xen reserves in every 64-bit PV address space (L4 slots 256..271).</summary>
    public const ulong HypervisorVirtStart = 0xFFFF_8000_0000_0000UL, HypervisorVirtEnd = 0xFFFF_8800_0000_0000UL;
    public const ulong MachToPhysVirtStart = 0xFFFF_8000_0000_0000UL, MachToPhysVirtEnd = 0xFFFF_8040_0000_0000UL;

    /// <summary>FLAT_RING3_* selectors: the GDT entries Xen provides for 64-bit PV guests.</summary>
    public const ushort FlatRing3Cs32 = 0xe023, FlatRing3Ds32 = 0xe02b, FlatRing3Ds64 = 0x0000,
        FlatRing3Cs64 = 0xe033, FlatRing3Ss64 = 0xe02b;
    public const ushort FlatKernelDs64 = FlatRing3Ds64, FlatKernelCs64 = FlatRing3Cs64, FlatKernelSs64 = FlatRing3Ss64;
    public const ushort FlatUserDs64 = FlatRing3Ds64, FlatUserCs64 = FlatRing3Cs64, FlatUserSs64 = FlatRing3Ss64;
}
