using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_set_gdt(frame_list, entries) and HYPERVISOR_update_descriptor(ma, desc)
/// (xen/arch/x86/pv/descriptor-tables.c).
/// </summary>
public static class GdtOp
{
    public static long SetGdt(Vcpu v, ulong frameList, ulong entries)
    {
        // entries is an unsigned int; Xen bounds it before copying the list.
        uint count = (uint)entries;
        if (count > TrapAbi.FirstReservedGdtEntry) return -XenErrno.EINVAL;
        int nrFrames = (int)((count + TrapAbi.GdtEntriesPerFrame - 1) / TrapAbi.GdtEntriesPerFrame);
        Span<ulong> frames = stackalloc ulong[TrapAbi.MaxGdtFrames];
        for (int i = 0; i < nrFrames; i++)
            if (!GuestMemory.Read(v, frameList + (ulong)i * 8, out frames[i])) return -XenErrno.EFAULT;
        return InstallGdt(v, frames[..nrFrames], count);
    }

    /// <summary>
    /// pv_set_gdt: every frame must be the domain's own, not a page table, and every descriptor in it acceptable to
    /// check_descriptor (which also fixes DPLs up); else -EINVAL and the old GDT stays. The fixed-up descriptors
    /// are written back only once the whole table passed.
    /// </summary>
    public static int InstallGdt(Vcpu v, ReadOnlySpan<ulong> frames, uint entries)
    {
        if (entries > TrapAbi.FirstReservedGdtEntry) return -XenErrno.EINVAL;
        var d = v.Domain;
        var hv = d.Hypervisor;
        for (int i = 0; i < frames.Length; i++)
        {
            if (!hv.Frames.IsOwnedBy(frames[i], d.Id) || hv.Mmu.IsPageTable(frames[i])) return -XenErrno.EINVAL;
            for (int e = 0; e < TrapAbi.GdtEntriesPerFrame; e++)
            {
                ulong desc = hv.Memory.ReadUInt64((frames[i] << 12) + (ulong)e * 8);
                if (!DescriptorTables.CheckDescriptor(ref desc)) return -XenErrno.EINVAL;
            }
        }
        for (int i = 0; i < frames.Length; i++)
        {
            for (int e = 0; e < TrapAbi.GdtEntriesPerFrame; e++)
            {
                ulong ma = (frames[i] << 12) + (ulong)e * 8;
                ulong desc = hv.Memory.ReadUInt64(ma), fixedUp = desc;
                DescriptorTables.CheckDescriptor(ref fixedUp);
                if (fixedUp != desc) hv.Memory.WriteUInt64(ma, fixedUp);
            }
        }
        v.GdtFrames = frames.ToArray();
        v.GdtEntries = (int)entries;
        v.Cpu.FlushTlb();
        return 0;
    }

    /// <summary>
    /// do_update_descriptor: write one descriptor at machine address <paramref name="ma"/> of a frame the domain
    /// owns. -EINVAL when unaligned, when the descriptor fails check_descriptor, or when the frame is not the
    /// domain's or is a page table.
    /// </summary>
    public static long UpdateDescriptor(Vcpu v, ulong ma, ulong desc)
    {
        if ((ma & 7) != 0) return -XenErrno.EINVAL;
        if (!DescriptorTables.CheckDescriptor(ref desc)) return -XenErrno.EINVAL;
        var d = v.Domain;
        var hv = d.Hypervisor;
        // A page-table frame can take no writable type (get_page_type(PGT_writable_page) fails).
        if (!hv.Frames.IsOwnedBy(ma >> 12, d.Id) || hv.Mmu.IsPageTable(ma >> 12)) return -XenErrno.EINVAL;
        hv.Memory.WriteUInt64(ma, desc);
        return 0;
    }
}
