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
    /// pv_set_gdt: every frame takes a segment-descriptor type (PvMmu.GetSegDescPages): the domain's own, not a page
    /// table, not mapped writable anywhere, every descriptor acceptable to check_descriptor (DPLs fixed up in place);
    /// else -EINVAL and the old GDT stays. The old frames' references are dropped once the new ones are held.
    /// </summary>
    public static int InstallGdt(Vcpu v, ReadOnlySpan<ulong> frames, uint entries)
    {
        if (entries > TrapAbi.FirstReservedGdtEntry) return -XenErrno.EINVAL;
        var mmu = v.Domain.Hypervisor.Mmu;
        if (mmu.GetSegDescPages(v.Domain, frames) != 0) return -XenErrno.EINVAL;
        var old = v.GdtFrames;
        v.GdtFrames = frames.ToArray();
        v.GdtEntries = (int)entries;
        mmu.PutSegDescPages(old);
        v.Cpu.FlushTlb();
        return 0;
    }

    /// <summary>
    /// do_update_descriptor: write one descriptor at machine address <paramref name="ma"/> of a frame the domain
    /// owns: a descriptor page in use (GDT or LDT) keeps its type, any other frame must be able to take a writable
    /// type. -EINVAL when unaligned, when the descriptor fails check_descriptor, or when the frame is not the
    /// domain's or is a page table.
    /// </summary>
    public static long UpdateDescriptor(Vcpu v, ulong ma, ulong desc)
    {
        if ((ma & 7) != 0) return -XenErrno.EINVAL;
        if (!DescriptorTables.CheckDescriptor(ref desc)) return -XenErrno.EINVAL;
        return v.Domain.Hypervisor.Mmu.WriteDescriptor(v.Domain, ma, desc);
    }
}
