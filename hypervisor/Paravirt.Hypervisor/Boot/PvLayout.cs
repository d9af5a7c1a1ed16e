namespace Paravirt.Hypervisor.Boot;

/// <summary>
/// The start-of-day virtual layout of a 64-bit PV domain, computed as Xen's domain builder does
/// (tools/libs/guest/xg_dom_core.c xc_dom_build_image, xg_dom_x86.c alloc_pgtables_pv / count_pgtables):
/// kernel, [ramdisk], p2m list, start_info, xenstore page, console page, bootstrap page tables, boot stack,
/// all 4 KiB aligned and packed from virt_base; the initial mapping extends at least 512 KiB past them,
/// to a 4 MiB boundary, mapping pseudo-physical pages 0.. one to one.
/// </summary>
public sealed class PvLayout
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    private const ulong VaddrMask = (1UL << 48) - 1;   // VIRT_BITS_X86_64
    private const int Levels = 4;

    public ulong VirtBase { get; private set; }
    public ulong TotalPages { get; private set; }
    public ulong KernelPfn { get; private set; }
    public ulong KernelPages { get; private set; }
    public ulong RamdiskPfn { get; private set; }
    public ulong RamdiskPages { get; private set; }
    public ulong P2mPfn { get; private set; }
    public ulong P2mPages { get; private set; }
    public ulong StartInfoPfn { get; private set; }
    public ulong XenstorePfn { get; private set; }
    public ulong ConsolePfn { get; private set; }
    public ulong PageTablePfn { get; private set; }
    public ulong PageTableCount { get; private set; }
    public ulong BootStackPfn { get; private set; }
    /// <summary>One past the last mapped virtual address (virt_pgtab_end).</summary>
    public ulong VirtMapEnd { get; private set; }
    /// <summary>First pfn of the tables of each level (index 0 = L1 .. 3 = L4) and their count.</summary>
    public ulong[] LevelPfn { get; } = new ulong[Levels];
    public ulong[] LevelCount { get; } = new ulong[Levels];
    /// <summary>Virtual range each level's tables cover (masked to 48 bits, inclusive ends).</summary>
    public ulong[] LevelFrom { get; } = new ulong[Levels];
    public ulong[] LevelTo { get; } = new ulong[Levels];
    public ulong AreaFrom { get; private set; }
    public ulong AreaTo { get; private set; }

    public ulong VirtOf(ulong pfn) => VirtBase + (pfn << PageShift);

    /// <param name="kernelStart">virt_kstart</param><param name="kernelEnd">virt_kend</param>
    public static PvLayout Compute(ulong virtBase, ulong kernelStart, ulong kernelEnd, ulong ramdiskBytes, ulong totalPages)
    {
        var l = new PvLayout { VirtBase = virtBase, TotalPages = totalPages };
        if (kernelStart < virtBase || kernelEnd < kernelStart)
            throw new DomainBuildException($"kernel range 0x{kernelStart:x}-0x{kernelEnd:x} below virt_base 0x{virtBase:x}");
        ulong pfnAllocEnd = 0;

        // xc_dom_alloc_segment(kernel): at its own address relative to virt_base.
        l.KernelPfn = (kernelStart - virtBase) >> PageShift;
        l.KernelPages = (RoundUp(kernelEnd) - (kernelStart & ~(PageSize - 1))) >> PageShift;
        pfnAllocEnd = CheckSegment("kernel", l.KernelPfn, l.KernelPages, totalPages);

        if (ramdiskBytes > 0)
        {
            l.RamdiskPfn = pfnAllocEnd;
            l.RamdiskPages = RoundUp(ramdiskBytes) >> PageShift;
            pfnAllocEnd = CheckSegment("ramdisk", l.RamdiskPfn, l.RamdiskPages, totalPages);
        }

        // alloc_p2m_list_x86_64: one 8-byte entry per page.
        l.P2mPfn = pfnAllocEnd;
        l.P2mPages = RoundUp(totalPages * 8) >> PageShift;
        pfnAllocEnd = CheckSegment("phys2mach", l.P2mPfn, l.P2mPages, totalPages);

        // alloc_magic_pages_pv
        l.StartInfoPfn = pfnAllocEnd++;
        l.XenstorePfn = pfnAllocEnd++;
        l.ConsolePfn = pfnAllocEnd++;
        CheckSegment("magic pages", l.StartInfoPfn, 3, totalPages);

        // alloc_pgtables_pv: grow the estimate until the tables, the stack and 512 KiB of padding fit.
        ulong virtAllocEnd = virtBase + (pfnAllocEnd << PageShift);
        if (virtAllocEnd < virtBase) throw new DomainBuildException("initial mapping wraps the address space");
        ulong extraPages = 1 + (512 * 1024 / PageSize);
        ulong pages = extraPages;
        ulong tryVirtEnd;
        while (true)
        {
            ulong want = virtAllocEnd + pages * PageSize;
            if (want < virtAllocEnd) throw new DomainBuildException("initial mapping wraps the address space");
            tryVirtEnd = want | ((1UL << 22) - 1);
            if (tryVirtEnd < want) throw new DomainBuildException("initial mapping wraps the address space");
            l.CountPageTables(virtBase, tryVirtEnd, pfnAllocEnd);
            pages = l.PageTableCount + extraPages;
            if (virtAllocEnd + pages * PageSize <= tryVirtEnd + 1) break;
        }
        l.VirtMapEnd = tryVirtEnd + 1;
        l.PageTablePfn = pfnAllocEnd;
        pfnAllocEnd = CheckSegment("page tables", l.PageTablePfn, l.PageTableCount, totalPages);
        l.BootStackPfn = pfnAllocEnd++;
        CheckSegment("boot stack", l.BootStackPfn, 1, totalPages);

        // Xen's reserved range must stay out of the guest's initial mapping (and everything canonical).
        ulong lastVa = tryVirtEnd;
        if (!Paravirt.Cpu.PageTableWalker.IsCanonical(virtBase) || !Paravirt.Cpu.PageTableWalker.IsCanonical(lastVa)
            || (virtBase < Abi.X86_64.HypervisorVirtEnd && lastVa >= Abi.X86_64.HypervisorVirtStart))
            throw new DomainBuildException($"initial mapping 0x{virtBase:x}-0x{lastVa:x} overlaps the hypervisor's reserved range or is not canonical");
        return l;
    }

    /// <summary>count_pgtables for the first (only) mapping: tables per level covering [from, to].</summary>
    private void CountPageTables(ulong from, ulong to, ulong pfn)
    {
        ulong pfnEnd = (to - from) >> PageShift;
        if (pfnEnd >= TotalPages)
            throw new DomainBuildException(
                $"not enough memory for the initial mapping: it needs {pfnEnd + 1} pages, the domain has {TotalPages}");
        AreaFrom = from & VaddrMask;
        AreaTo = to & VaddrMask;
        PageTableCount = 0;
        for (int lvl = Levels - 1; lvl >= 0; lvl--)
        {
            LevelPfn[lvl] = pfn + PageTableCount;
            if (lvl == Levels - 1)
            {
                LevelFrom[lvl] = 0; LevelTo[lvl] = VaddrMask; LevelCount[lvl] = 1;
                PageTableCount++;
                continue;
            }
            int bits = PageShift + (lvl + 1) * 9;
            ulong mask = (1UL << bits) - 1;
            LevelFrom[lvl] = AreaFrom & ~mask;
            LevelTo[lvl] = AreaTo | mask;
            LevelCount[lvl] = LevelFrom[lvl] < LevelTo[lvl] ? ((LevelTo[lvl] - LevelFrom[lvl]) >> bits) + 1 : 0;
            PageTableCount += LevelCount[lvl];
        }
    }

    private static ulong CheckSegment(string what, ulong pfn, ulong pages, ulong total)
    {
        if (pages > total || pfn > total || pages > total - pfn)
            throw new DomainBuildException(
                $"{what} does not fit in memory: it needs pages 0x{pfn:x}-0x{pfn + pages:x}, the domain has 0x{total:x} pages");
        return pfn + pages;
    }

    private static ulong RoundUp(ulong v) => (v + PageSize - 1) & ~(PageSize - 1);
}
