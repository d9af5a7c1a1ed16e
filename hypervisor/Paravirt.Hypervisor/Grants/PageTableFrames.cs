namespace Paravirt.Hypervisor.Grants;

/// <summary>
/// Whether a frame is one of a domain's live page tables. Xen refuses a writable grant pin on such a frame (the
/// page's type is not PGT_writable_page); until frames carry PV page types, the grant code asks this walk of every
/// vCPU's tree (CR3 down to the L1 tables), which only visits present non-leaf entries.
/// </summary>
internal static class PageTableFrames
{
    private const ulong Present = 1, PageSize = 1UL << 7, AddressMask = 0x000F_FFFF_FFFF_F000UL;

    public static bool Contains(Domain d, ulong mfn)
    {
        var mem = d.Hypervisor.Memory;
        foreach (var v in d.Vcpus)
        {
            ulong root = (v.Registers.Cr3 & AddressMask) >> 12;
            if (root == 0 || !mem.IsValidFrame(root)) continue;
            if (Walk(d, root, 4, mfn)) return true;
        }
        return false;
    }

    private static bool Walk(Domain d, ulong table, int level, ulong mfn)
    {
        if (table == mfn) return true;
        if (level == 1) return false;
        var mem = d.Hypervisor.Memory;
        var frame = mem.FrameForRead(table);
        for (int i = 0; i < 512; i++)
        {
            ulong e = BitConverter.ToUInt64(frame.Slice(i * 8, 8));
            if ((e & Present) == 0 || (level < 4 && (e & PageSize) != 0)) continue;
            ulong next = (e & AddressMask) >> 12;
            // Only the domain's own frames can be its tables; anything else is not ours to follow.
            if (!mem.IsValidFrame(next) || !d.Hypervisor.Frames.IsOwnedBy(next, d.Id)) continue;
            if (Walk(d, next, level - 1, mfn)) return true;
        }
        return false;
    }
}
