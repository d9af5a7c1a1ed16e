namespace Paravirt.Hypervisor.Boot;

/// <summary>
/// One run of page tables of a bootstrap mapping (xg_dom_x86.c struct xc_dom_x86_mapping_lvl): the tables of a level
/// (or, for the mapping's area, the pages mapped) cover [From, To] (48-bit masked, inclusive) and sit at Pfn.. .
/// </summary>
public sealed class PvMappingLevel
{
    public ulong From { get; internal set; }
    public ulong To { get; internal set; }
    public ulong Pfn { get; internal set; }
    /// <summary>Number of page-table pages (for the area: of the whole mapping).</summary>
    public ulong Tables { get; internal set; }
}

/// <summary>
/// A virtual range mapped at boot by its own page tables (xc_dom_x86_mapping): the initial mapping from virt_base, and
/// with INIT_P2M a second one for the p2m list. Tables a second mapping shares with the first (the L4 always, upper
/// levels when the ranges are close) are counted once, in the first.
/// </summary>
public sealed class PvMapping
{
    public PvMappingLevel Area { get; } = new();
    /// <summary>Index 0 = L1 tables .. 3 = L4.</summary>
    public PvMappingLevel[] Levels { get; } = [new(), new(), new(), new()];
    /// <summary>First pfn of this mapping's page-table pages (its top level's pfn, as get_pg_prot reckons).</summary>
    public ulong TablePfn => Levels[3].Pfn;
}

/// <summary>
/// The start-of-day layout of a 64-bit PV domain, computed as Xen's domain builder does
/// (tools/libs/guest/xg_dom_core.c xc_dom_build_image, xg_dom_x86.c alloc_pgtables_pv / count_pgtables /
/// alloc_p2m_list_x86_64): kernel, [ramdisk], [p2m list], start_info, xenstore page, console page, bootstrap page
/// tables, boot stack, all 4 KiB aligned and packed from virt_base; the initial mapping extends at least 512 KiB past
/// them, to a 4 MiB boundary, mapping pseudo-physical pages 0.. one to one. Past the initial mapping come an unmapped
/// ramdisk (MOD_START_PFN) and a p2m list the kernel wants at its own address (INIT_P2M), with that list's page tables.
/// </summary>
public sealed class PvLayout
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    public const ulong Unset = ulong.MaxValue;
    private const ulong VaddrMask = (1UL << 48) - 1;   // VIRT_BITS_X86_64
    private const int Levels = 4;

    private readonly List<PvMapping> _mappings = [];
    private ulong _pfnAllocEnd;

    public ulong VirtBase { get; private set; }
    public ulong TotalPages { get; private set; }
    public ulong KernelPfn { get; private set; }
    public ulong KernelPages { get; private set; }
    public ulong RamdiskPfn { get; private set; }
    public ulong RamdiskPages { get; private set; }
    /// <summary>True when the ramdisk lies outside the initial mapping (MOD_START_PFN): start_info gets its pfn.</summary>
    public bool RamdiskUnmapped { get; private set; }
    /// <summary>First pfn of the p2m segment (with INIT_P2M: the list followed by its own page tables).</summary>
    public ulong P2mPfn { get; private set; }
    /// <summary>Pages of the p2m segment (with INIT_P2M this includes the list's page tables, as nr_p2m_frames does).</summary>
    public ulong P2mPages { get; private set; }
    /// <summary>Pages holding the p2m list itself.</summary>
    public ulong P2mListPages { get; private set; }
    /// <summary>Where the guest sees its p2m list (start_info.mfn_list): INIT_P2M's address, else inside the initial mapping.</summary>
    public ulong P2mVirt { get; private set; }
    /// <summary>True when the p2m list has its own mapping at the kernel's INIT_P2M address.</summary>
    public bool P2mOutsideInitialMapping { get; private set; }
    public ulong StartInfoPfn { get; private set; }
    public ulong XenstorePfn { get; private set; }
    public ulong ConsolePfn { get; private set; }
    /// <summary>The initial mapping's page tables (start_info.pt_base, nr_pt_frames).</summary>
    public ulong PageTablePfn { get; private set; }
    public ulong PageTableCount { get; private set; }
    public ulong BootStackPfn { get; private set; }
    /// <summary>One past the last mapped virtual address of the initial mapping (virt_pgtab_end).</summary>
    public ulong VirtMapEnd { get; private set; }
    /// <summary>One past the last pfn the builder used.</summary>
    public ulong PfnAllocEnd => _pfnAllocEnd;

    /// <summary>The bootstrap mappings: [0] the initial mapping, [1] the p2m list's when INIT_P2M is honoured.</summary>
    public IReadOnlyList<PvMapping> Mappings => _mappings;

    // The initial mapping's levels, by level (index 0 = L1 .. 3 = L4).
    public ulong[] LevelPfn => _mappings[0].Levels.Select(l => l.Pfn).ToArray();
    public ulong[] LevelCount => _mappings[0].Levels.Select(l => l.Tables).ToArray();
    public ulong[] LevelFrom => _mappings[0].Levels.Select(l => l.From).ToArray();
    public ulong[] LevelTo => _mappings[0].Levels.Select(l => l.To).ToArray();
    public ulong AreaFrom => _mappings[0].Area.From;
    public ulong AreaTo => _mappings[0].Area.To;
    /// <summary>The pfn of the L4 table the vCPU starts on (cr3).</summary>
    public ulong L4Pfn => _mappings[0].Levels[3].Pfn;

    public ulong VirtOf(ulong pfn) => VirtBase + (pfn << PageShift);

    /// <summary>Every bootstrap page-table page: its pfn and level (1..4), for whoever types and pins them.</summary>
    public IEnumerable<(ulong Pfn, int Level)> PageTables()
    {
        foreach (var m in _mappings)
            for (int lvl = Levels - 1; lvl >= 0; lvl--)
                for (ulong i = 0; i < m.Levels[lvl].Tables; i++)
                    yield return (m.Levels[lvl].Pfn + i, lvl + 1);
    }

    /// <summary>True when <paramref name="pfn"/> holds a bootstrap page table (get_pg_prot maps those read-only).</summary>
    public bool IsPageTable(ulong pfn) => _mappings.Any(m => pfn >= m.TablePfn && pfn < m.TablePfn + m.Area.Tables);

    /// <param name="kernelStart">virt_kstart</param><param name="kernelEnd">virt_kend</param>
    /// <param name="ramdiskBytes">the ramdisk segment's size (0: none)</param>
    /// <param name="p2mBase">INIT_P2M, or <see cref="Unset"/></param>
    /// <param name="unmappedRamdisk">MOD_START_PFN: place the ramdisk after the initial mapping</param>
    public static PvLayout Compute(ulong virtBase, ulong kernelStart, ulong kernelEnd, ulong ramdiskBytes, ulong totalPages,
        ulong p2mBase = Unset, bool unmappedRamdisk = false)
    {
        var l = new PvLayout { VirtBase = virtBase, TotalPages = totalPages };
        if (kernelStart < virtBase || kernelEnd < kernelStart)
            throw new DomainBuildException($"kernel range 0x{kernelStart:x}-0x{kernelEnd:x} below virt_base 0x{virtBase:x}");
        if (((kernelStart | virtBase) & (PageSize - 1)) != 0)
            throw new DomainBuildException($"kernel start 0x{kernelStart:x} or virt_base 0x{virtBase:x} is not page aligned");

        // xc_dom_alloc_segment(kernel): padded from virt_base to its own address.
        l.KernelPfn = (kernelStart - virtBase) >> PageShift;
        l.KernelPages = PagesFor(kernelEnd - kernelStart);
        l._pfnAllocEnd = l.KernelPfn;
        l.Alloc("kernel", l.KernelPages);

        // Modules that need the initial mapping come right after the kernel.
        bool ramdiskUnmapped = ramdiskBytes > 0 && unmappedRamdisk;
        if (ramdiskBytes > 0 && !ramdiskUnmapped)
        {
            l.RamdiskPages = PagesFor(ramdiskBytes);
            l.RamdiskPfn = l.Alloc("ramdisk", l.RamdiskPages);
        }

        // INIT_P2M is honoured only below virt_base and page aligned (xc_dom_build_image); else the list is mapped.
        ulong p2mListBytes = RoundUp(totalPages * 8);
        if (p2mBase >= virtBase || (p2mBase & (PageSize - 1)) != 0) p2mBase = Unset;
        if (p2mBase == Unset)
        {
            l.P2mListPages = l.P2mPages = p2mListBytes >> PageShift;
            l.P2mPfn = l.Alloc("phys2mach", l.P2mPages);
            l.P2mVirt = l.VirtOf(l.P2mPfn);
        }

        // alloc_magic_pages_pv
        l.StartInfoPfn = l.Alloc("start info", 1);
        l.XenstorePfn = l.Alloc("xenstore", 1);
        l.ConsolePfn = l.Alloc("console", 1);

        // alloc_pgtables_pv: grow the estimate until the tables, the stack and 512 KiB of padding fit.
        ulong virtAllocEnd = l.VirtOf(l._pfnAllocEnd);
        if (virtAllocEnd < virtBase) throw new DomainBuildException("initial mapping wraps the address space");
        ulong extraPages = 1 + (512 * 1024 / PageSize);
        ulong pages = extraPages;
        PvMapping initial;
        ulong tryVirtEnd;
        while (true)
        {
            ulong want = virtAllocEnd + pages * PageSize;
            if (want < virtAllocEnd) throw new DomainBuildException("initial mapping wraps the address space");
            tryVirtEnd = want | ((1UL << 22) - 1);
            if (tryVirtEnd < want) throw new DomainBuildException("initial mapping wraps the address space");
            initial = l.CountPageTables("initial mapping", virtBase, tryVirtEnd, 0);
            pages = initial.Area.Tables + extraPages;
            if (virtAllocEnd + pages * PageSize <= tryVirtEnd + 1) break;
        }
        l._mappings.Add(initial);
        l.VirtMapEnd = tryVirtEnd + 1;
        CheckOutsideXen("initial mapping", virtBase, tryVirtEnd);
        l.PageTableCount = initial.Area.Tables;
        l.PageTablePfn = l.Alloc("page tables", l.PageTableCount);
        l.BootStackPfn = l.Alloc("boot stack", 1);

        // xc_dom_alloc_pad(virt_pgtab_end): all memory the initial mapping covers is the domain's.
        ulong mappedPages = (l.VirtMapEnd - virtBase) >> PageShift;
        if (mappedPages > l._pfnAllocEnd) l.Alloc("padding", mappedPages - l._pfnAllocEnd);

        if (ramdiskUnmapped)
        {
            l.RamdiskUnmapped = true;
            l.RamdiskPages = PagesFor(ramdiskBytes);
            l.RamdiskPfn = l.Alloc("ramdisk", l.RamdiskPages);
        }

        if (p2mBase != Unset)
        {
            // alloc_p2m_list_x86_64 with INIT_P2M: the list at p2m_base, its page tables right after it.
            ulong to = p2mBase + p2mListBytes - 1;
            if (to < p2mBase) throw new DomainBuildException($"p2m list at 0x{p2mBase:x} wraps the address space");
            CheckOutsideXen("p2m list mapping (INIT_P2M)", p2mBase, to);
            var p2m = l.CountPageTables("p2m list mapping", p2mBase, to, l._pfnAllocEnd);
            ulong listPages = p2mListBytes >> PageShift;
            p2m.Area.Pfn = l._pfnAllocEnd;
            foreach (var lvl in p2m.Levels) lvl.Pfn += listPages;
            l._mappings.Add(p2m);
            l.P2mListPages = listPages;
            l.P2mPages = listPages + p2m.Area.Tables;
            l.P2mPfn = l.Alloc("phys2mach", l.P2mPages);
            l.P2mVirt = p2mBase;
            l.P2mOutsideInitialMapping = true;
        }
        return l;
    }

    /// <summary>
    /// count_pgtables: the tables per level a mapping of [from, to] at pfn.. needs, less those an earlier mapping
    /// already provides (the L4 is the first mapping's).
    /// </summary>
    private PvMapping CountPageTables(string what, ulong from, ulong to, ulong pfn)
    {
        ulong pfnEnd = pfn + ((to - from) >> PageShift);
        if (pfnEnd >= TotalPages || pfnEnd < pfn)
            throw new DomainBuildException(
                $"not enough memory for the {what}: it needs {pfnEnd + 1} pages, the domain has {TotalPages}");
        var map = new PvMapping();
        map.Area.From = from & VaddrMask;
        map.Area.To = to & VaddrMask;
        map.Area.Pfn = pfn;
        foreach (var other in _mappings)
            if (map.Area.From < other.Area.To && map.Area.To > other.Area.From)
                throw new DomainBuildException($"bootstrap mappings overlap: 0x{from:x}-0x{to:x} and 0x{other.Area.From:x}-0x{other.Area.To:x}");

        for (int lvl = Levels - 1; lvl >= 0; lvl--)
        {
            var level = map.Levels[lvl];
            level.Pfn = _pfnAllocEnd + map.Area.Tables;
            if (lvl == Levels - 1)
            {
                if (_mappings.Count == 0)
                {
                    level.From = 0; level.To = VaddrMask; level.Tables = 1;
                    map.Area.Tables++;
                }
                continue;
            }
            int bits = PageShift + (lvl + 1) * 9;
            ulong mask = (1UL << bits) - 1;
            level.From = map.Area.From & ~mask;
            level.To = map.Area.To | mask;
            foreach (var other in _mappings)
            {
                var o = other.Levels[lvl];
                if (o.From == o.To) continue;
                if (level.From >= o.From && level.To <= o.To)
                {
                    level.From = level.To = 0;
                    break;
                }
                if (level.From >= o.From && level.From <= o.To) level.From = o.To + 1;
                if (level.To >= o.From && level.To <= o.To) level.To = o.From - 1;
            }
            if (level.From < level.To) level.Tables = ((level.To - level.From) >> bits) + 1;
            map.Area.Tables += level.Tables;
        }
        return map;
    }

    /// <summary>xc_dom_chk_alloc_pages: take the next <paramref name="pages"/> pfns, or refuse naming what did not fit.</summary>
    private ulong Alloc(string what, ulong pages)
    {
        ulong pfn = _pfnAllocEnd;
        if (pages > TotalPages || pfn > TotalPages || pages > TotalPages - pfn)
            throw new DomainBuildException(
                $"{what} does not fit in memory: it needs pages 0x{pfn:x}-0x{pfn + pages:x}, the domain has 0x{TotalPages:x} pages");
        _pfnAllocEnd = pfn + pages;
        return pfn;
    }

    /// <summary>Xen's reserved range must stay out of the guest's bootstrap mappings, and every address be canonical.</summary>
    private static void CheckOutsideXen(string what, ulong first, ulong last)
    {
        if (!Paravirt.Cpu.PageTableWalker.IsCanonical(first) || !Paravirt.Cpu.PageTableWalker.IsCanonical(last)
            || (first >> 47) != (last >> 47)
            || (first < Abi.X86_64.HypervisorVirtEnd && last >= Abi.X86_64.HypervisorVirtStart))
            throw new DomainBuildException($"{what} 0x{first:x}-0x{last:x} overlaps the hypervisor's reserved range or is not canonical");
    }

    private static ulong PagesFor(ulong bytes) => (bytes + PageSize - 1) >> PageShift;
    private static ulong RoundUp(ulong v) => (v + PageSize - 1) & ~(PageSize - 1);
}
