using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Memory;

/// <summary>
/// The read-only machine-to-phys table every 64-bit PV guest sees at MACH2PHYS_VIRT_START (arch-x86/xen-x86_64.h):
/// 8 bytes per machine frame, in frames the hypervisor owns (DOMID_XEN), reached from L4 slot 256 of every
/// validated L4 through hypervisor-owned L3/L2/L1 tables whose entries never carry _PAGE_RW. The frame table
/// writes every M2P change (builder, MMU_MACHPHYS_UPDATE, populate_physmap, frees) through to these frames.
/// </summary>
public sealed class M2pTable
{
    /// <summary>Slot of MACH2PHYS_VIRT_START (0xffff800000000000 >> 39 & 511).</summary>
    public const int L4Slot = 256;
    /// <summary>Flags of every entry on the way to the M2P: present, user (the guest kernel runs in ring 3), accessed.</summary>
    private const ulong TableFlags = PageTableWalker.Present | PageTableWalker.User | PageTableWalker.Accessed;
    private const ulong LeafFlags = TableFlags | PageTableWalker.Dirty | PageTableWalker.NoExecute;

    private M2pTable(ulong[] dataFrames, ulong l3Mfn, ulong l4Entry)
    {
        DataFrames = dataFrames;
        L3Mfn = l3Mfn;
        L4Entry = l4Entry;
    }

    /// <summary>The frames holding the table itself, in virtual order (512 entries each).</summary>
    public ulong[] DataFrames { get; }
    public ulong L3Mfn { get; }
    /// <summary>The value the hypervisor puts in L4 slot 256 of every validated L4.</summary>
    public ulong L4Entry { get; }
    /// <summary>Machine frames the table covers (all of machine memory).</summary>
    public ulong Entries => (ulong)DataFrames.Length * 512;

    /// <summary>XENMEM_machphys_mfn_list: the first MFN of each 2 MiB (512-frame) piece of the table.</summary>
    public ulong ExtentMfn(int extent) => DataFrames[extent * 512];
    public int ExtentCount => (DataFrames.Length + 511) / 512;

    /// <summary>Allocate and map the table (at hypervisor start, before any domain exists).</summary>
    internal static M2pTable Create(MachineMemory memory, FrameTable frames)
    {
        ulong dataCount = (memory.FrameCount * 8 + 4095) / 4096;
        ulong l1Count = (dataCount + 511) / 512;
        ulong l2Count = (l1Count + 511) / 512;
        var all = new ulong[dataCount + l1Count + l2Count + 1];
        if (!frames.TryAllocate(DomId.Xen, all))
            throw new HypervisorException(XenErrno.ENOMEM, $"machine memory too small for the M2P table ({all.Length} frames)");
        // Frames come off the free stack from the top, so this first allocation is one contiguous run; keep it in
        // ascending order so each 2 MiB piece is contiguous, as machphys_mfn_list promises.
        Array.Sort(all);
        foreach (var f in all) memory.Clear(f);
        var data = all[..(int)dataCount];
        var l1 = all[(int)dataCount..(int)(dataCount + l1Count)];
        var l2 = all[(int)(dataCount + l1Count)..(int)(dataCount + l1Count + l2Count)];
        ulong l3 = all[^1];
        for (ulong i = 0; i < dataCount; i++)
            memory.WriteUInt64((l1[i / 512] << 12) + (i % 512) * 8, (data[i] << 12) | LeafFlags);
        for (ulong i = 0; i < l1Count; i++)
            memory.WriteUInt64((l2[i / 512] << 12) + (i % 512) * 8, (l1[i] << 12) | TableFlags);
        for (ulong i = 0; i < l2Count; i++)
            memory.WriteUInt64((l3 << 12) + i * 8, (l2[i] << 12) | TableFlags);
        for (ulong mfn = 0; mfn < dataCount * 512; mfn++)
            memory.WriteUInt64((data[mfn / 512] << 12) + (mfn % 512) * 8, FrameTable.InvalidPfn);
        var table = new M2pTable(data, l3, (l3 << 12) | TableFlags);
        frames.AttachMachineM2p(data);
        return table;
    }
}
