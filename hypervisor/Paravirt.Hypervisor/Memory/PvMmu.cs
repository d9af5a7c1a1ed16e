using System.Runtime.CompilerServices;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Memory;

/// <summary>
/// Xen's direct-paging PV MMU (xen/arch/x86/mm.c, pv/mm.c): every frame a guest uses as a page table carries a
/// type (L1..L4) with a type count, every present entry of a validated table holds a reference on what it maps,
/// and entries change only through checked updates. The invariants that keep domains apart:
/// <list type="bullet">
/// <item>a validated table maps only frames its owner owns (or was granted), never the hypervisor's;</item>
/// <item>no writable mapping of a frame whose type is a page table or descriptor page exists, because a writable
/// mapping is a PGT_writable_page type reference and a frame holds one type at a time;</item>
/// <item>L4 slots 256..271 belong to the hypervisor (the read-only M2P lives in slot 256);</item>
/// <item>reserved/cache/superpage bits are refused, as Xen's *_DISALLOW_MASKs.</item>
/// </list>
/// This half is the typed core: managed code and tests call it directly with a domain; the hypercall files only
/// marshal. One lock guards all page_info state (lock order: grant-table lock, then this lock, then the frame
/// table's); no other lock is taken while holding it except a domain's StateLock for synchronous TLB shootdown.
/// </summary>
public sealed partial class PvMmu
{
    /// <summary>Bits 12..51: the frame a PTE maps.</summary>
    public const ulong AddressMask = PageTableWalker.AddressMask;
    public const ulong Present = PageTableWalker.Present, Rw = PageTableWalker.Writable, User = PageTableWalker.User,
        Pwt = 1UL << 3, Pcd = 1UL << 4, Accessed = PageTableWalker.Accessed, Dirty = PageTableWalker.Dirty,
        Pse = PageTableWalker.PageSize, Pat = 1UL << 7, Global = PageTableWalker.Global, Avail = 0xE00UL,
        AvailHigh = 0x7FFUL << 52, Nx = PageTableWalker.NoExecute;
    /// <summary>_PAGE_GUEST_KERNEL (bit 52 of the PTE): marks an L1 entry Xen made user-accessible for the ring-3 kernel.</summary>
    public const ulong GuestKernel = 1UL << 52;

    /// <summary>
    /// base_disallow_mask (arch_init_memory): everything but P, RW, US, A, D, AVAIL, AVAIL_HIGH and NX. Bits 12..51
    /// are the address, not flags. L1 entries may also use _PAGE_GLOBAL; cache attributes (PWT, PCD, PAT) are refused
    /// for a domain without I/O resources (l1_disallow_mask). L2..L4 refuse PSE: no superpages for PV.
    /// </summary>
    public const ulong BaseDisallow = ~(Present | Rw | User | Accessed | Dirty | Avail | AvailHigh | Nx | AddressMask);
    public const ulong L1Disallow = BaseDisallow & ~Global;
    public const ulong UpperDisallow = BaseDisallow;
    /// <summary>
    /// FASTPATH_FLAG_WHITELIST: an update that changes nothing but these bits keeps its references as they are
    /// (anything else, _PAGE_RW included, goes through the full check).
    /// </summary>
    private const ulong FastPathWhitelist = Nx | AvailHigh | Avail | Global | Dirty | Accessed | User;
    /// <summary>PADDR_MASK >> PAGE_SHIFT: the all-ones frame number Xen treats as INVALID_MFN (-EINVAL, not -EPERM).</summary>
    private const ulong InvalidMfnPattern = (1UL << 40) - 1;

    /// <summary>First and last L4 slot of HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END.</summary>
    public const int FirstXenSlot = 256, LastXenSlot = 271;

    private readonly Hypervisor _hv;
    private readonly MachineMemory _mem;
    private readonly FrameTable _frames;
    private readonly PageInfoTable _p;
    private readonly Lock _lock = new();

    public PvMmu(Hypervisor hv)
    {
        _hv = hv;
        _mem = hv.Memory;
        _frames = hv.Frames;
        _p = hv.Frames.Pages;
        M2p = M2pTable.Create(_mem, _frames);
    }

    public M2pTable M2p { get; }
    public PageInfoTable Pages => _p;
    internal Lock SyncRoot => _lock;

    // ---- general references (count_info) ----------------------------------------------------------------------

    private bool IsValidFrame(ulong mfn) => mfn < _mem.FrameCount;

    /// <summary>get_page: a reference on a frame <paramref name="owner"/> owns.</summary>
    private bool GetPage(ulong mfn, Domain owner)
    {
        if (!IsValidFrame(mfn) || _frames.OwnerOf(mfn) != owner.Id || owner.IsManaged) return false;
        _p.Count[mfn]++;
        return true;
    }

    private void PutPage(ulong mfn)
    {
        if (_p.Count[mfn] > 0) _p.Count[mfn]--;
    }

    // ---- types (type_info) ---------------------------------------------------------------------------------------

    private static bool IsTableType(PageType t) => t is PageType.L1 or PageType.L2 or PageType.L3 or PageType.L4;

    /// <summary>
    /// get_page_type: take a type reference, giving the frame <paramref name="type"/> if nothing holds a type on it.
    /// A page-table type is validated first (every entry checked and referenced); a frame holding another type, or
    /// a table still being validated (a loop back into itself), is -EINVAL. Becoming a table or descriptor page
    /// first shoots down TLB entries that may still map it writable.
    /// </summary>
    private int GetPageType(ulong mfn, PageType type, Domain owner)
    {
        ref int tc = ref _p.TypeCount[mfn];
        ref PageType t = ref _p.Type[mfn];
        ref PageFlags f = ref _p.Flags[mfn];
        if (tc > 0)
        {
            if (t != type) return -XenErrno.EINVAL;
            if (IsTableType(type) && (f & PageFlags.Validated) == 0) return -XenErrno.EINVAL;
            if (tc == int.MaxValue) return -XenErrno.EINVAL;
            tc++;
            return 0;
        }
        if (type != PageType.Writable)
        {
            // shared_info and grant-table frames are hypervisor pages shared writable with the guest for good.
            if ((f & PageFlags.Special) != 0 || mfn == owner.SharedInfoMfn) return -XenErrno.EINVAL;
            if ((f & PageFlags.MaybeWritableInTlb) != 0)
            {
                if ((f & PageFlags.MaybeForeignWritable) != 0) ShootDownAll();
                else Flush(owner, null, null, null);
                f &= ~(PageFlags.MaybeWritableInTlb | PageFlags.MaybeForeignWritable);
            }
        }
        t = type;
        tc = 1;
        f &= ~PageFlags.Validated;
        if (type == PageType.SegDesc && ValidateSegDesc(mfn) is var sd and not 0)
        {
            t = PageType.None;
            tc = 0;
            return sd;
        }
        if (IsTableType(type))
        {
            int rc = ValidateTable(mfn, (int)type, owner);
            if (rc != 0)
            {
                t = PageType.None;
                tc = 0;
                return rc;
            }
        }
        f |= PageFlags.Validated;
        return 0;
    }

    /// <summary>put_page_type: drop a type reference; the last one of a page table releases everything its entries hold.</summary>
    private void PutPageType(ulong mfn)
    {
        ref int tc = ref _p.TypeCount[mfn];
        if (tc <= 0) return;
        if (--tc > 0) return;
        ref PageType t = ref _p.Type[mfn];
        if (IsTableType(t) && (_p.Flags[mfn] & PageFlags.Validated) != 0)
        {
            _p.Flags[mfn] &= ~PageFlags.Validated;
            DevalidateTable(mfn, (int)t);
        }
        _p.Flags[mfn] &= ~(PageFlags.Validated | PageFlags.Pinned);
        if (t != PageType.Writable) t = PageType.None;
    }

    /// <summary>get_page_and_type_from_mfn: -EINVAL when the frame is not the domain's, else get_page_type's answer.</summary>
    private int GetPageAndType(ulong mfn, PageType type, Domain d)
    {
        if (!GetPage(mfn, d)) return -XenErrno.EINVAL;
        int rc = GetPageType(mfn, type, d);
        if (rc != 0) PutPage(mfn);
        return rc;
    }

    private void PutPageAndType(ulong mfn)
    {
        PutPageType(mfn);
        PutPage(mfn);
    }

    // ---- entries ------------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MfnOf(ulong entry) => (entry & AddressMask) >> 12;

    private static bool IsGuestSlot(int level, int index) => level != 4 || index < FirstXenSlot || index > LastXenSlot;

    /// <summary>adjust_guest_l*e: a 64-bit PV kernel runs in ring 3, so present entries are made user-accessible.</summary>
    private static ulong Adjust(int level, ulong e)
    {
        if ((e & Present) == 0) return e;
        if (level == 1 && (e & User) == 0) return e | User | GuestKernel;
        return e | User;
    }

    /// <summary>
    /// get_page_from_l1e: the references a present L1 entry needs. Returns 0 or -errno: bad flags -EINVAL, a frame
    /// outside RAM -EPERM (MMIO without permission; all-ones = INVALID_MFN -EINVAL), a frame of someone else or one
    /// whose type forbids a writable mapping -EBUSY.
    /// </summary>
    private int GetPageFromL1e(ulong e, Domain l1eOwner, Domain pgOwner)
    {
        if ((e & L1Disallow) != 0) return -XenErrno.EINVAL;
        ulong mfn = MfnOf(e);
        if (!IsValidFrame(mfn)) return mfn == InvalidMfnPattern ? -XenErrno.EINVAL : -XenErrno.EPERM;
        if (_frames.OwnerOf(mfn) != pgOwner.Id || pgOwner.IsManaged) return -XenErrno.EBUSY;
        _p.Count[mfn]++;
        if ((e & Rw) != 0)
        {
            if (GetPageType(mfn, PageType.Writable, pgOwner) != 0)
            {
                PutPage(mfn);
                return -XenErrno.EBUSY;
            }
            _p.Flags[mfn] |= PageFlags.MaybeWritableInTlb;
        }
        return 0;
    }

    private void PutPageFromL1e(ulong e)
    {
        if ((e & Present) == 0) return;
        ulong mfn = MfnOf(e);
        if (!IsValidFrame(mfn)) return;
        if ((e & Rw) != 0) PutPageType(mfn);
        else if (_p.TypeCount[mfn] > 0 && _p.Type[mfn] == PageType.SegDesc) ReleaseShadowLdtsOf(mfn);
        PutPage(mfn);
    }

    /// <summary>
    /// get_page_from_l{2,3,4}e: the entry must reference a table of the level below, which is validated on the way
    /// (or already is); failing that, a read-only "linear" reference to a validated table of the same level
    /// (the table itself, or another one) is allowed, as Xen's get_*_linear_pagetable.
    /// </summary>
    private int GetPageFromUpper(int level, ulong e, ulong tableMfn, Domain d)
    {
        if ((e & UpperDisallow) != 0) return -XenErrno.EINVAL;
        ulong mfn = MfnOf(e);
        int rc = GetPageAndType(mfn, (PageType)(level - 1), d);
        if (rc == -XenErrno.EINVAL && GetLinear(level, e, mfn, tableMfn, d)) rc = 0;
        return rc;
    }

    private bool GetLinear(int level, ulong e, ulong mfn, ulong tableMfn, Domain d)
    {
        if ((e & Rw) != 0) return false;
        if (mfn == tableMfn) return true;
        if (!GetPage(mfn, d)) return false;
        if (_p.TypeCount[mfn] <= 0 || _p.Type[mfn] != (PageType)level || (_p.Flags[mfn] & PageFlags.Validated) == 0
            || _p.TypeCount[mfn] == int.MaxValue || _p.Linear[tableMfn] < 0 || _p.Linear[mfn] > 0)
        {
            PutPage(mfn);
            return false;
        }
        _p.Linear[tableMfn]++;
        _p.Linear[mfn]--;
        _p.TypeCount[mfn]++;
        return true;
    }

    private void PutPageFromUpper(int level, ulong e, ulong tableMfn)
    {
        if ((e & Present) == 0) return;
        ulong mfn = MfnOf(e);
        if (mfn == tableMfn || !IsValidFrame(mfn)) return;
        if (_p.Type[mfn] == (PageType)level)
        {
            // A linear reference: the target keeps its type while we hold it, so this is unambiguous.
            _p.Linear[tableMfn]--;
            _p.Linear[mfn]++;
        }
        PutPageAndType(mfn);
    }

    private int GetPageFromEntry(int level, ulong e, ulong tableMfn, Domain ptOwner, Domain pgOwner) =>
        level == 1 ? GetPageFromL1e(e, ptOwner, pgOwner) : GetPageFromUpper(level, e, tableMfn, ptOwner);

    private void PutPageFromEntry(int level, ulong e, ulong tableMfn)
    {
        if (level == 1) PutPageFromL1e(e);
        else PutPageFromUpper(level, e, tableMfn);
    }

    private ulong ReadEntry(ulong tableMfn, int index) => _mem.ReadUInt64((tableMfn << 12) + (ulong)index * 8);

    private unsafe ref ulong EntryRef(ulong tableMfn, int index) =>
        ref Unsafe.AsRef<ulong>(_mem.Base + (tableMfn << 12) + (ulong)index * 8);

    /// <summary>
    /// UPDATE_ENTRY: store the new entry atomically (the CPU sets A/D bits concurrently); with
    /// <paramref name="preserveAd"/> (MMU_PT_UPDATE_PRESERVE_AD) the current A/D bits are kept.
    /// </summary>
    private void WriteEntry(ulong tableMfn, int index, ulong value, bool preserveAd)
    {
        ref ulong slot = ref EntryRef(tableMfn, index);
        if (preserveAd)
        {
            ulong old = Volatile.Read(ref slot);
            while (true)
            {
                ulong nv = value | (old & (Accessed | Dirty));
                ulong seen = Interlocked.CompareExchange(ref slot, nv, old);
                if (seen == old) break;
                old = seen;
            }
        }
        else Interlocked.Exchange(ref slot, value);
        _mem.NoteWrite(tableMfn);
    }

    // ---- validation (alloc_l*_table / free_l*_table) ------------------------------------------------------------

    private int ValidateTable(ulong mfn, int level, Domain d)
    {
        for (int i = 0; i < 512; i++)
        {
            if (!IsGuestSlot(level, i)) continue;
            ulong e = ReadEntry(mfn, i);
            if ((e & Present) == 0) continue;
            int rc = GetPageFromEntry(level, e, mfn, d, d);
            if (rc != 0)
            {
                for (int j = 0; j < i; j++)
                    if (IsGuestSlot(level, j)) PutPageFromEntry(level, ReadEntry(mfn, j), mfn);
                return rc;
            }
            ulong adjusted = Adjust(level, e);
            if (adjusted != e) WriteEntry(mfn, i, adjusted, preserveAd: true);
        }
        if (level == 4) FillXenSlots(mfn, roMpt: M2pStrict(d));
        return 0;
    }

    /// <summary>
    /// init_xen_l4_slots: the hypervisor's part of every L4; only the read-only M2P is visible to the guest. As in
    /// promote_l4_table, a validated L4 carries the M2P only when the domain asked for VMASST_TYPE_m2p_strict;
    /// otherwise it gains it when it becomes a kernel base (<see cref="FillRoMpt"/>).
    /// </summary>
    private void FillXenSlots(ulong l4Mfn, bool roMpt)
    {
        for (int i = FirstXenSlot; i <= LastXenSlot; i++)
            WriteEntry(l4Mfn, i, i == M2pTable.L4Slot && roMpt ? M2p.L4Entry : 0, preserveAd: false);
    }

    private static bool M2pStrict(Domain d) => d.HasVmAssist(Hypercalls.VmAssistOp.TypeM2pStrict);

    /// <summary>fill_ro_mpt: give an L4 the read-only M2P slot if it has none; true if it was filled here.</summary>
    internal bool FillRoMpt(ulong l4Mfn)
    {
        if (ReadEntry(l4Mfn, M2pTable.L4Slot) != 0) return false;
        WriteEntry(l4Mfn, M2pTable.L4Slot, M2p.L4Entry, preserveAd: false);
        return true;
    }

    /// <summary>zap_ro_mpt: take the read-only M2P out of an L4 (a user-mode base under m2p_strict).</summary>
    internal void ZapRoMpt(ulong l4Mfn) => WriteEntry(l4Mfn, M2pTable.L4Slot, 0, preserveAd: false);

    /// <summary>
    /// Turning VMASST_TYPE_m2p_strict on: every L4 of the domain gets the M2P back (Xen walks the domain's pages and
    /// fills each L4 until it meets one that already had it; filling all of them is the same end state).
    /// </summary>
    internal void FillRoMptOfAllL4s(Domain d)
    {
        lock (_lock)
            foreach (var mfn in d.OwnedMemoryFrames())
                if (_frames.Pages.TypeOf(mfn) == PageType.L4) FillRoMpt(mfn);
    }

    private void DevalidateTable(ulong mfn, int level)
    {
        for (int i = 0; i < 512; i++)
            if (IsGuestSlot(level, i)) PutPageFromEntry(level, ReadEntry(mfn, i), mfn);
    }

    // ---- entry modification (mod_l*_entry) ----------------------------------------------------------------------

    /// <summary>
    /// mod_lN_entry: replace entry <paramref name="index"/> of the validated table <paramref name="tableMfn"/> of
    /// <paramref name="level"/>, taking the references the new entry needs before dropping the old ones. L4 slots
    /// 256..271 are the hypervisor's (-EINVAL). Mappings in an L1 may name frames of <paramref name="pgOwner"/>
    /// (a foreign domain for a privileged caller); upper levels only the table owner's.
    /// </summary>
    private int ModEntry(int level, ulong tableMfn, int index, ulong nl, bool preserveAd, Domain ptOwner, Domain pgOwner)
    {
        if (!IsGuestSlot(level, index)) return -XenErrno.EINVAL;
        ulong ol = ReadEntry(tableMfn, index);
        if ((nl & Present) != 0)
        {
            ulong disallow = level == 1 ? L1Disallow : UpperDisallow;
            if ((nl & disallow) != 0) return -XenErrno.EINVAL;
            if ((ol & Present) != 0 && ((ol ^ nl) & ~FastPathWhitelist) == 0)
            {
                WriteEntry(tableMfn, index, Adjust(level, nl), preserveAd);
                return 0;
            }
            int rc = GetPageFromEntry(level, nl, tableMfn, ptOwner, pgOwner);
            if (rc != 0) return rc;
            WriteEntry(tableMfn, index, Adjust(level, nl), preserveAd);
        }
        else WriteEntry(tableMfn, index, nl, preserveAd);
        PutPageFromEntry(level, ol, tableMfn);
        return 0;
    }
}
