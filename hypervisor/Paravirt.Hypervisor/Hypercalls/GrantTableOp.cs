using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_grant_table_op(cmd, uop, count) (xen/include/public/grant_table.h): each of the
/// <c>count</c> structs at <c>uop</c> is copied in, handed to <see cref="GrantTable"/>, and its status copied
/// out. Per-operation failures are GNTST_* in the struct; the hypercall itself fails only for bad arguments.
/// </summary>
public static class GrantTableOp
{
    public const int MapGrantRef = 0, UnmapGrantRef = 1, SetupTable = 2, DumpTable = 3, Transfer = 4, Copy = 5,
        QuerySize = 6, UnmapAndReplace = 7, SetVersion = 8, GetStatusFrames = 9, GetVersion = 10, SwapGrantRef = 11,
        CacheFlush = 12;

    /// <summary>Struct sizes on x86-64: gnttab_map_grant_ref 32, unmap 24, setup_table 24, copy 40, query_size 16.</summary>
    public const int MapSize = 32, UnmapSize = 24, SetupSize = 24, CopySize = 40, QuerySizeSize = 16;

    public static long Do(Vcpu v, ulong cmd, ulong uop, ulong count)
    {
        if (count > int.MaxValue) return -XenErrno.EINVAL;
        return cmd switch
        {
            MapGrantRef => Each(v, uop, count, MapSize, MapOne),
            UnmapGrantRef => Each(v, uop, count, UnmapSize, UnmapOne),
            // gnttab_setup_table, gnttab_query_size, gnttab_get_status_frames: "if ( count != 1 ) return -EINVAL".
            SetupTable => count == 1 ? SetupOne(v, uop) : -XenErrno.EINVAL,
            Copy => Each(v, uop, count, CopySize, CopyOne),
            QuerySize => count == 1 ? QueryOne(v, uop) : -XenErrno.EINVAL,
            SetVersion => count == 1 ? SetVersionOne(v, uop) : -XenErrno.EINVAL,
            GetStatusFrames => count == 1 ? GetStatusFramesOne(v, uop) : -XenErrno.EINVAL,
            GetVersion => count == 1 ? GetVersionOne(v, uop) : -XenErrno.EINVAL,
            SwapGrantRef => Each(v, uop, count, SwapSize, SwapOne),
            CacheFlush => Each(v, uop, count, CacheFlushSize, CacheFlushOne),
            _ => -XenErrno.ENOSYS,
        };
    }

    /// <summary>struct gnttab_swap_grant_ref { grant_ref_t ref_a @0; grant_ref_t ref_b @4; i16 status @8 (OUT) }.</summary>
    public const int SwapSize = 12;

    private static long SwapOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong refs)) return -XenErrno.EFAULT;
        short st = GrantTable.SwapGrantRef(v.Domain, (uint)refs, (uint)(refs >> 32));
        return GuestMemory.Write(v, a + 8, st) ? 0 : -XenErrno.EFAULT;
    }

    /// <summary>struct gnttab_cache_flush: { union { u64 dev_bus_addr; grant_ref_t ref; } a @0; u16 offset @8;
    /// u16 length @10; u32 op @12 }.</summary>
    public const int CacheFlushSize = 16;
    public const uint CacheClean = 1u << 0, CacheInval = 1u << 1;

    /// <summary>
    /// GNTTABOP_cache_flush (Xen's cache_flush, x86): a range within one page (-EINVAL past it, or for an op bit
    /// other than CLEAN/INVAL, which includes SOURCE_GREF); nothing to do for length or op 0; the machine frame
    /// must exist (-EINVAL) and belong to a domain with a grant table (-EPERM: free frames, Xen's, DOMID_IO's);
    /// another domain's frame only through a grant mapping this domain holds (-EINVAL). On x86 CLEAN (with or
    /// without INVAL) writes back and invalidates, which the emulated machine's coherent memory makes a no-op:
    /// 0; INVAL alone is -EOPNOTSUPP (invalidate_dcache_va_range).
    /// </summary>
    private static long CacheFlushOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong busAddr) || !GuestMemory.Read(v, a + 8, out ulong rest)) return -XenErrno.EFAULT;
        uint offset = (ushort)rest, length = (ushort)(rest >> 16), op = (uint)(rest >> 32);
        if (offset >= 4096 || length > 4096 || offset + length > 4096 || (op & ~(CacheClean | CacheInval)) != 0)
            return -XenErrno.EINVAL;
        if (length == 0 || op == 0) return 0;
        var d = v.Domain;
        var hv = d.Hypervisor;
        ulong mfn = busAddr >> 12;
        if (mfn >= hv.Frames.TotalFrames) return -XenErrno.EINVAL;
        ushort ownerId = hv.Frames.OwnerOf(mfn);
        var owner = ownerId == d.Id ? d : hv.GetDomain(ownerId);
        if (owner == null) return -XenErrno.EPERM;
        if (owner != d && !d.Grants.HoldsMappingOf(owner.Grants, mfn)) return -XenErrno.EINVAL;
        return (op & CacheClean) != 0 ? 0 : -XenErrno.EOPNOTSUPP;
    }

    private static long Each(Vcpu v, ulong uop, ulong count, int size, Func<Vcpu, ulong, long> one)
    {
        for (ulong i = 0; i < count; i++)
        {
            if (v.Domain.IsDying || v.Domain.IsShutdown) return -XenErrno.EINTR;
            long rc = one(v, uop + i * (ulong)size);
            if (rc != 0) return rc;
        }
        return 0;
    }

    // { u64 host_addr @0; u32 flags @8; grant_ref_t ref @12; domid_t dom @16; i16 status @18 (OUT);
    //   grant_handle_t handle @20 (OUT); u64 dev_bus_addr @24 (OUT) }
    private static long MapOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong hostAddr) || !GuestMemory.Read(v, a + 8, out ulong flagsRef)
            || !GuestMemory.Read(v, a + 16, out ushort dom)) return -XenErrno.EFAULT;
        short st = GrantTable.Map(v.Domain, dom, (uint)(flagsRef >> 32), (uint)flagsRef, hostAddr, out uint handle, out ulong bus, v);
        // Write the status first; if the rest cannot be written back, undo the mapping so nothing leaks.
        if (!GuestMemory.Write(v, a + 18, st) || !GuestMemory.Write(v, a + 20, handle) || !GuestMemory.Write(v, a + 24, bus))
        {
            if (st == GrantStatus.Okay) GrantTable.Unmap(v.Domain, handle, hostAddr, 0, v);
            return -XenErrno.EFAULT;
        }
        return 0;
    }

    // { u64 host_addr @0; u64 dev_bus_addr @8; grant_handle_t handle @16; i16 status @20 (OUT) }
    private static long UnmapOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong hostAddr) || !GuestMemory.Read(v, a + 8, out ulong bus)
            || !GuestMemory.Read(v, a + 16, out uint handle)) return -XenErrno.EFAULT;
        short st = GrantTable.Unmap(v.Domain, handle, hostAddr, bus, v);
        return GuestMemory.Write(v, a + 20, st) ? 0 : -XenErrno.EFAULT;
    }

    // { domid_t dom @0; u32 nr_frames @4; i16 status @8 (OUT); XEN_GUEST_HANDLE(xen_pfn_t) frame_list @16 }
    private static long SetupOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong domFrames) || !GuestMemory.Read(v, a + 16, out ulong list)) return -XenErrno.EFAULT;
        uint nr = (uint)(domFrames >> 32);
        // Bounded before any buffer is sized: nothing above max_grant_frames can succeed.
        short st = GrantStatus.GeneralError;
        Span<ulong> frames = stackalloc ulong[GrantTable.DefaultMaxFrames];
        if (nr <= (uint)Math.Max(GrantTable.DefaultMaxFrames, v.Domain.Grants.MaxFrames))
        {
            if (nr > (uint)frames.Length) frames = new ulong[nr];
            st = GrantTable.SetupTable(v.Domain, (ushort)domFrames, nr, frames);
        }
        if (st == GrantStatus.Okay)
            for (uint i = 0; i < nr; i++)
                if (!GuestMemory.Write(v, list + i * 8, frames[(int)i])) return -XenErrno.EFAULT;
        return GuestMemory.Write(v, a + 8, st) ? 0 : -XenErrno.EFAULT;
    }

    // struct gnttab_copy_ptr { union { grant_ref_t ref; xen_pfn_t gmfn; } u @0; domid_t domid @8; u16 offset @10; } (16)
    // { source @0; dest @16; u16 len @32; u16 flags @34; i16 status @36 (OUT) }
    private static long CopyOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong su) || !GuestMemory.Read(v, a + 8, out uint sdo)
            || !GuestMemory.Read(v, a + 16, out ulong du) || !GuestMemory.Read(v, a + 24, out uint ddo)
            || !GuestMemory.Read(v, a + 32, out uint lenFlags)) return -XenErrno.EFAULT;
        ushort flags = (ushort)(lenFlags >> 16);
        // A grant reference is 32 bits; the upper half of the union is not part of it.
        var src = new GrantCopyPointer((flags & GrantCopyFlags.SourceGref) != 0 ? (uint)su : su, (ushort)sdo, (ushort)(sdo >> 16));
        var dst = new GrantCopyPointer((flags & GrantCopyFlags.DestGref) != 0 ? (uint)du : du, (ushort)ddo, (ushort)(ddo >> 16));
        short st = GrantTable.Copy(v.Domain, src, dst, (ushort)lenFlags, flags);
        return GuestMemory.Write(v, a + 36, st) ? 0 : -XenErrno.EFAULT;
    }

    // { domid_t dom @0; u32 nr_frames @4 (OUT); u32 max_nr_frames @8 (OUT); i16 status @12 (OUT) }
    private static long QueryOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ushort dom)) return -XenErrno.EFAULT;
        short st = GrantTable.QuerySize(v.Domain, dom, out uint nr, out uint max);
        if (!GuestMemory.Write(v, a + 4, nr | ((ulong)max << 32)) || !GuestMemory.Write(v, a + 12, st)) return -XenErrno.EFAULT;
        return 0;
    }

    // { u32 version; } — IN and OUT (the version in force afterwards)
    private static long SetVersionOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out uint version)) return -XenErrno.EFAULT;
        int rc = GrantTable.SetVersion(v.Domain, version, out uint current);
        if (!GuestMemory.Write(v, a, current)) return -XenErrno.EFAULT;
        return rc;
    }

    // { u32 nr_frames @0; domid_t dom @4; i16 status @6 (OUT); XEN_GUEST_HANDLE(uint64_t) frame_list @8 } — v1 has no
    // status frames, so nothing is ever written to frame_list.
    private static long GetStatusFramesOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ulong raw)) return -XenErrno.EFAULT;
        short st = GrantTable.GetStatusFrames(v.Domain, (ushort)(raw >> 32), (uint)raw);
        return GuestMemory.Write(v, a + 6, st) ? 0 : -XenErrno.EFAULT;
    }

    // { domid_t dom @0; u16 pad; u32 version @4 (OUT) }
    private static long GetVersionOne(Vcpu v, ulong a)
    {
        if (!GuestMemory.Read(v, a, out ushort dom)) return -XenErrno.EFAULT;
        int rc = GrantTable.GetVersion(v.Domain, dom, out uint version);
        if (rc != 0) return rc;
        return GuestMemory.Write(v, a + 4, version) ? 0 : -XenErrno.EFAULT;
    }
}
