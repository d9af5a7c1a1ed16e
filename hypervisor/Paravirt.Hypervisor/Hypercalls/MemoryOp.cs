using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_memory_op(cmd, arg) (xen/include/public/memory.h; common/memory.c do_memory_op, x86 arch_memory_op):
/// cmd[5:0] is the operation, cmd[63:6] the extent a preempted reservation call resumes from. Reservation calls
/// return the number of extents done (failures included: the count says how far it got), the rest 0 or -errno.
/// </summary>
public static class MemoryOp
{
    public const int IncreaseReservation = 0, DecreaseReservation = 1, MaximumRamPage = 2, CurrentReservation = 3,
        MaximumReservation = 4, MachphysMfnList = 5, PopulatePhysmap = 6, AddToPhysmap = 7, MemoryMap = 9,
        MachineMemoryMap = 10, Exchange = 11, MachphysMapping = 12, SetMemoryMap = 13, MaximumGpfn = 14,
        RemoveFromPhysmap = 15;
    /// <summary>XENMEMF_* in xen_memory_reservation.mem_flags (memory.h): address_bits in bits 0-7, node + 1 in 8-15.</summary>
    public const uint MemfAddressBitsMask = 0xFF, MemfPopulateOnDemand = 1u << 16, MemfExactNodeRequest = 1u << 17,
        MemfVnode = 1u << 18;
    /// <summary>XENMAPSPACE_* in xen_add_to_physmap.space.</summary>
    public const uint MapSpaceSharedInfo = 0, MapSpaceGrantTable = 1, MapSpaceGmfnForeign = 4;
    /// <summary>E820MAX: the most entries a domain's memory map may have.</summary>
    public const uint E820Max = 128;
    /// <summary>max_order for a domain without I/O resources (CONFIG_DOMU_MAX_ORDER).</summary>
    public const uint DomUMaxOrder = 9;

    public static long Do(Vcpu v, ulong cmd, ulong arg)
    {
        int op = (int)(cmd & Continuation.MemopCmdMask);
        ulong start = cmd >> Continuation.MemopExtentShift;
        var d = v.Domain;
        switch (op)
        {
            case IncreaseReservation:
            case DecreaseReservation:
            case PopulatePhysmap:
                return Reservation(v, op, start, arg);
            case MaximumRamPage:
                return start != 0 ? -XenErrno.EINVAL : (long)d.Hypervisor.Memory.FrameCount;
            case CurrentReservation:
            case MaximumReservation:
            case MaximumGpfn:
            {
                if (start != 0) return -XenErrno.EINVAL;
                if (!GuestMemory.Read(v, arg, out ushort domid)) return -XenErrno.EFAULT;
                var t = AnyDomain(d, domid);
                if (t == null) return -XenErrno.ESRCH;
                if (t != d && !d.IsPrivileged) return -XenErrno.EPERM;
                return op switch
                {
                    CurrentReservation => (long)t.TotalPages,
                    MaximumReservation => (long)t.MaxPages,
                    _ => MaximumGpfnOf(t),
                };
            }
            case MachphysMfnList when start == 0: return MachphysMfnListOp(v, arg);
            case MachphysMapping when start == 0: return MachphysMappingOp(v, arg);
            case MemoryMap when start == 0: return MemoryMapOp(v, arg);
            case MachineMemoryMap when start == 0: return d.IsPrivileged ? -XenErrno.ENOSYS : -XenErrno.EPERM;
            case SetMemoryMap when start == 0: return SetMemoryMapOp(v, arg);
            case AddToPhysmap:
            {
                // start_extent must fit xen_add_to_physmap.size (16 bits).
                if (start != (ushort)start) return -XenErrno.EDOM;
                if (!GuestMemory.Read(v, arg, out ulong head) || !GuestMemory.Read(v, arg + 8, out ulong idx)
                    || !GuestMemory.Read(v, arg + 16, out ulong gpfn)) return -XenErrno.EFAULT;
                return AddToPhysmapOp(d, (ushort)head, (uint)(head >> 32), idx, gpfn);
            }
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>rcu_lock_domain_by_any_id: DOMID_SELF or any existing domain.</summary>
    private static Domain? AnyDomain(Domain caller, ushort domid) =>
        domid == DomId.Self ? caller : caller.Hypervisor.GetDomain(domid);

    /// <summary>domain_get_maximum_gpfn for PV: shared_info.arch.max_pfn (the guest's p2m size) minus one, at least 0.</summary>
    private static long MaximumGpfnOf(Domain t)
    {
        if (t.SharedInfoMfn == ulong.MaxValue) return 0;
        ulong maxPfn = t.Hypervisor.Memory.ReadUInt64((t.SharedInfoMfn << 12) + SharedInfoArchMaxPfn);
        return (long)((maxPfn == 0 ? 1 : maxPfn) - 1);
    }

    /// <summary>offsetof(struct shared_info, arch.max_pfn) on x86-64.</summary>
    private const ulong SharedInfoArchMaxPfn = 3088;

    // struct xen_memory_reservation { handle extent_start @0; xen_ulong_t nr_extents @8; u32 extent_order @16;
    //                                 u32 mem_flags @20; domid_t domid @24; } (32 bytes)
    private static long Reservation(Vcpu v, int op, ulong start, ulong arg)
    {
        var d = v.Domain;
        if (!GuestMemory.Read(v, arg, out ulong list) || !GuestMemory.Read(v, arg + 8, out ulong nr)
            || !GuestMemory.Read(v, arg + 16, out ulong orderFlags) || !GuestMemory.Read(v, arg + 24, out ushort domid))
            return (long)start;
        if (nr > (uint.MaxValue >> Continuation.MemopExtentShift)) return (long)start;
        if (start >= nr) return (long)start;
        uint order = (uint)orderFlags, memFlags = (uint)(orderFlags >> 32);
        var t = AnyDomain(d, domid);
        if (t == null || t.IsManaged) return (long)start;
        // construct_memop_from_reservation: an address limit below the top of RAM restricts where extents come from
        // (none at or below one page: nothing done); a node may be named as a hint by anyone, demanded
        // (XENMEMF_exact_node_request) only by the control domain; no domain here has a vNUMA layout.
        ulong limit = ulong.MaxValue;
        uint addressBits = memFlags & MemfAddressBitsMask;
        ulong ramTopOrder = (ulong)System.Numerics.BitOperations.Log2(d.Hypervisor.Memory.FrameCount - 1) + 1;
        if (addressBits != 0 && addressBits < ramTopOrder + 12)
        {
            if (addressBits <= 12) return (long)start;
            limit = 1UL << (int)(addressBits - 12);
        }
        if ((memFlags & MemfVnode) == 0 && ((memFlags >> 8) & 0xFF) != 0 && (memFlags & MemfExactNodeRequest) != 0
            && !d.IsPrivileged) return (long)start;
        if (t != d && !d.IsPrivileged) return (long)start;
        if (list != 0 || op != IncreaseReservation)
            if (!Continuation.HandleOk(list + start * 8, nr - start, 8)) return (long)start;
        // multipage_allocation_permitted / populate_physmap's max_order (CONFIG_DOMU_MAX_ORDER for a domU).
        if (order > DomUMaxOrder) return (long)start;

        var mmu = d.Hypervisor.Mmu;
        ulong i = start;
        bool preempted = false;
        for (; i < nr; i++)
        {
            if (Continuation.PreemptCheck(v, (long)(i - start))) { preempted = true; break; }
            if (op == IncreaseReservation)
            {
                if (mmu.AllocateExtent(t, (int)order, limit, out ulong mfn) != 0) break;
                if (list != 0 && !GuestMemory.Write(v, list + i * 8, mfn)) break;
            }
            else if (op == PopulatePhysmap)
            {
                if (!GuestMemory.Read(v, list + i * 8, out ulong gpfn)) break;
                // Populate-on-demand needs a translated physmap: guest_physmap_mark_populate_on_demand refuses a PV domain.
                if ((memFlags & MemfPopulateOnDemand) != 0) break;
                if (mmu.AllocateExtent(t, (int)order, limit, out ulong mfn) != 0) break;
                // guest_physmap_add_page for PV: only the M2P learns the new pfns; the guest keeps its own p2m.
                for (ulong j = 0; j < (1UL << (int)order); j++) d.Hypervisor.Frames.SetMachineToPhys(mfn + j, gpfn + j);
                if (!GuestMemory.Write(v, list + i * 8, mfn)) break;
            }
            else
            {
                if (!GuestMemory.Read(v, list + i * 8, out ulong gmfn)) break;
                bool ok = true;
                for (ulong j = 0; j < (1UL << (int)order) && ok; j++) ok = mmu.ReleaseFrame(t, gmfn + j) == 0;
                if (!ok) break;
            }
        }
        if (preempted)
            return Continuation.Create(v, Hypercall.MemoryOp, (uint)op | (i << Continuation.MemopExtentShift), arg);
        return (long)i;
    }

    // struct xen_machphys_mfn_list { u32 max_extents @0; handle extent_start @8; u32 nr_extents @16 (OUT); } (24)
    private static long MachphysMfnListOp(Vcpu v, ulong arg)
    {
        if (!GuestMemory.Read(v, arg, out uint max) || !GuestMemory.Read(v, arg + 8, out ulong list)) return -XenErrno.EFAULT;
        var m2p = v.Domain.Hypervisor.Mmu.M2p;
        uint i = 0;
        for (; i != max && i < (uint)m2p.ExtentCount; i++)
            if (!GuestMemory.Write(v, list + i * 8UL, m2p.ExtentMfn((int)i))) return -XenErrno.EFAULT;
        return GuestMemory.Write(v, arg + 16, i) ? 0 : -XenErrno.EFAULT;
    }

    // struct xen_machphys_mapping { xen_ulong_t v_start, v_end, max_mfn; } (24)
    private static long MachphysMappingOp(Vcpu v, ulong arg)
    {
        const ulong entries = (X86_64.MachToPhysVirtEnd - X86_64.MachToPhysVirtStart) >> 3;
        bool ok = GuestMemory.Write(v, arg, X86_64.MachToPhysVirtStart) && GuestMemory.Write(v, arg + 8, X86_64.MachToPhysVirtEnd)
                  && GuestMemory.Write(v, arg + 16, entries - 1);
        return ok ? 0 : -XenErrno.EFAULT;
    }

    // struct xen_memory_map { u32 nr_entries @0 (IN room, OUT written); handle buffer @8; } (16)
    private static long MemoryMapOp(Vcpu v, ulong arg)
    {
        if (!GuestMemory.Read(v, arg, out uint room) || !GuestMemory.Read(v, arg + 8, out ulong buffer)) return -XenErrno.EFAULT;
        // Backwards compatibility, as Xen: no map set for the domain means the guest builds one from nr_pages.
        if (v.Domain.MemoryMap is not { Length: > 0 } map) return -XenErrno.ENOSYS;
        uint n = Math.Min(room, (uint)map.Length);
        Span<byte> e = stackalloc byte[E820Entry.SizeInBytes];
        for (uint i = 0; i < n; i++)
        {
            BitConverter.TryWriteBytes(e, map[i].Address);
            BitConverter.TryWriteBytes(e[8..], map[i].Size);
            BitConverter.TryWriteBytes(e[16..], map[i].Type);
            if (!GuestMemory.CopyTo(v, buffer + i * (ulong)E820Entry.SizeInBytes, e)) return -XenErrno.EFAULT;
        }
        return GuestMemory.Write(v, arg, n) ? 0 : -XenErrno.EFAULT;
    }

    // struct xen_foreign_memory_map { domid_t domid @0; struct xen_memory_map map @8; } (24)
    private static long SetMemoryMapOp(Vcpu v, ulong arg)
    {
        var d = v.Domain;
        if (!GuestMemory.Read(v, arg, out ushort domid) || !GuestMemory.Read(v, arg + 8, out uint nr)
            || !GuestMemory.Read(v, arg + 16, out ulong buffer)) return -XenErrno.EFAULT;
        if (nr > E820Max) return -XenErrno.EINVAL;
        var t = AnyDomain(d, domid);
        if (t == null) return -XenErrno.ESRCH;
        if (t != d && !d.IsPrivileged) return -XenErrno.EPERM;
        var map = new E820Entry[nr];
        Span<byte> e = stackalloc byte[E820Entry.SizeInBytes];
        for (uint i = 0; i < nr; i++)
        {
            if (!GuestMemory.CopyFrom(v, buffer + i * (ulong)E820Entry.SizeInBytes, e)) return -XenErrno.EFAULT;
            map[i] = new E820Entry(BitConverter.ToUInt64(e), BitConverter.ToUInt64(e[8..]), BitConverter.ToUInt32(e[16..]));
        }
        d.Hypervisor.Mmu.SetMemoryMap(t, map);
        return 0;
    }

    /// <summary>
    /// XENMEM_add_to_physmap. Only a translated (HVM/PVH) domain has a physmap to add to: for a PV domain Xen's
    /// xatp_permission_check answers -EACCES, and so does this (PV guests find shared_info through start_info and
    /// grant frames through GNTTABOP_setup_table). When translated domains arrive, XENMAPSPACE_grant_table takes its
    /// frame from <see cref="Grants.GrantTable.FrameForPhysmap"/> and XENMAPSPACE_shared_info the shared_info page.
    /// </summary>
    public static long AddToPhysmapOp(Domain caller, ushort domid, uint space, ulong idx, ulong gpfn)
    {
        if (space == MapSpaceGmfnForeign) return -XenErrno.ENOSYS;
        var t = AnyDomain(caller, domid);
        if (t == null) return -XenErrno.ESRCH;
        // xatp_permission_check: !paging_mode_translate(d) — true of every domain here, all PV.
        return -XenErrno.EACCES;
    }
}
