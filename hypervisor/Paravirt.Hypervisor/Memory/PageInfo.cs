namespace Paravirt.Hypervisor.Memory;

/// <summary>
/// What a frame is used as (Xen's PGT_* in page_info.u.inuse.type_info, xen/arch/x86/include/asm/mm.h). A frame
/// can hold one type at a time; the type can change only while its type count is zero.
/// </summary>
public enum PageType : byte
{
    /// <summary>PGT_none: no type references.</summary>
    None = 0,
    /// <summary>PGT_l1_page_table .. PGT_l4_page_table: a validated page-table page of that level.</summary>
    L1 = 1, L2 = 2, L3 = 3, L4 = 4,
    /// <summary>PGT_seg_desc_page: holds GDT/LDT descriptors.</summary>
    SegDesc = 5,
    /// <summary>PGT_writable_page: mapped writable somewhere (a PTE with _PAGE_RW, a grant or foreign mapping).</summary>
    Writable = 6,
}

[Flags]
internal enum PageFlags : byte
{
    None = 0,
    /// <summary>PGT_validated: every entry of the page-table page has been checked and holds its references.</summary>
    Validated = 1,
    /// <summary>PGT_pinned: MMUEXT_PIN_Lx_TABLE holds one type and one general reference.</summary>
    Pinned = 2,
    /// <summary>
    /// A writable translation may still sit in some vCPU's TLB (Xen's tlbflush_timestamp): set when a writable
    /// mapping is created, cleared by the flush that precedes giving the frame a page-table or descriptor type.
    /// </summary>
    MaybeWritableInTlb = 4,
    /// <summary>A hypervisor page shared with the guest (shared_info, grant-table frames): never a page table.</summary>
    Special = 8,
    /// <summary>Some other domain mapped the frame writable (a grant host mapping): a shootdown must reach every domain.</summary>
    MaybeForeignWritable = 16,
}

/// <summary>
/// Xen's page_info for PV paging, one slot per machine frame: the general reference count (count_info), the type,
/// the type count and the validated/pinned bits (type_info). Every mutation happens under <see cref="PvMmu"/>'s
/// lock; <see cref="FrameTable"/> resets a slot whenever the frame changes hands.
/// </summary>
public sealed class PageInfoTable
{
    internal readonly int[] Count;
    internal readonly PageType[] Type;
    internal readonly int[] TypeCount;
    internal readonly PageFlags[] Flags;
    /// <summary>
    /// linear_pt_count: &gt; 0 = linear entries this table holds to other tables of its level, &lt; 0 = linear uses of
    /// it by other tables. A frame is never both, so linear references never chain (no unbounded teardown recursion).
    /// </summary>
    internal readonly int[] Linear;

    public PageInfoTable(ulong frames)
    {
        Linear = new int[frames];
        Count = new int[frames];
        Type = new PageType[frames];
        TypeCount = new int[frames];
        Flags = new PageFlags[frames];
    }

    internal void Reset(ulong mfn)
    {
        Count[mfn] = 0;
        Type[mfn] = PageType.None;
        TypeCount[mfn] = 0;
        Flags[mfn] = PageFlags.None;
        Linear[mfn] = 0;
    }

    public PageType TypeOf(ulong mfn) => mfn < (ulong)Type.Length && TypeCount[mfn] > 0 ? Type[mfn] : PageType.None;
    public int TypeCountOf(ulong mfn) => mfn < (ulong)TypeCount.Length ? Volatile.Read(ref TypeCount[mfn]) : 0;
    public int RefCountOf(ulong mfn) => mfn < (ulong)Count.Length ? Volatile.Read(ref Count[mfn]) : 0;
    public bool IsPinned(ulong mfn) => mfn < (ulong)Flags.Length && (Flags[mfn] & PageFlags.Pinned) != 0;
    public bool IsValidated(ulong mfn) => mfn < (ulong)Flags.Length && (Flags[mfn] & PageFlags.Validated) != 0;
}
