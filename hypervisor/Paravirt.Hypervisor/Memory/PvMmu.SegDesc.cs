using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Memory;

/// <summary>
/// Segment-descriptor pages (Xen's PGT_seg_desc_page, xen/arch/x86/mm.c alloc_segdesc_page; pv/descriptor-tables.c;
/// pv/mm.c pv_map_ldt_shadow_page). A GDT frame installed by set_gdt holds one general and one seg_desc type
/// reference for as long as it is installed; an LDT page holds them from the first segment load that needs it
/// (lazily, as Xen maps the shadow LDT on the fault) until the vCPU's LDT changes or the guest drops a mapping of a
/// descriptor page. Taking the type validates all 512 descriptors (check_descriptor, DPLs fixed up in place), and
/// while it is held no writable mapping of the frame can exist: the guest changes descriptors only through
/// update_descriptor.
/// </summary>
public sealed partial class PvMmu
{
    /// <summary>The most LDT pages a vCPU maps: 8192 descriptors of 8 bytes.</summary>
    public const int MaxLdtPages = 16;

    /// <summary>alloc_segdesc_page: every descriptor passes check_descriptor (then fixed up in place) or -EINVAL.</summary>
    private int ValidateSegDesc(ulong mfn)
    {
        for (int i = 0; i < 512; i++)
        {
            ulong d = ReadEntry(mfn, i);
            if (!DescriptorTables.CheckDescriptor(ref d)) return -XenErrno.EINVAL;
        }
        for (int i = 0; i < 512; i++)
        {
            ulong d = ReadEntry(mfn, i), fixedUp = d;
            DescriptorTables.CheckDescriptor(ref fixedUp);
            if (fixedUp != d) WriteEntry(mfn, i, fixedUp, preserveAd: false);
        }
        return 0;
    }

    /// <summary>
    /// set_gdt's references: get_page_and_type(PGT_seg_desc_page) on every frame, all or none. -EINVAL when a frame
    /// is not the domain's, is a page table or mapped writable somewhere, or holds a descriptor Xen refuses.
    /// </summary>
    public int GetSegDescPages(Domain d, ReadOnlySpan<ulong> frames)
    {
        lock (_lock)
        {
            if (!Usable(d)) return -XenErrno.EINVAL;
            for (int i = 0; i < frames.Length; i++)
            {
                if (GetPageAndType(frames[i], PageType.SegDesc, d) == 0) continue;
                for (int j = 0; j < i; j++) PutPageAndType(frames[j]);
                return -XenErrno.EINVAL;
            }
            return 0;
        }
    }

    /// <summary>Drop set_gdt's references on frames no longer installed.</summary>
    public void PutSegDescPages(ReadOnlySpan<ulong> frames)
    {
        lock (_lock)
            foreach (var mfn in frames)
                if (IsValidFrame(mfn) && _p.TypeCountOf(mfn) > 0 && _p.Type[mfn] == PageType.SegDesc) PutPageAndType(mfn);
    }

    /// <summary>
    /// do_update_descriptor's write: into a descriptor page of the domain's (its type kept) or any frame that may take
    /// a writable type (not a page table): -EINVAL otherwise. The descriptor was checked by the caller.
    /// </summary>
    public int WriteDescriptor(Domain d, ulong ma, ulong descriptor)
    {
        ulong mfn = ma >> 12;
        lock (_lock)
        {
            if (!Usable(d)) return -XenErrno.EINVAL;
            if (!GetPage(mfn, d)) return -XenErrno.EINVAL;
            var type = _p.TypeCount[mfn] > 0 && _p.Type[mfn] == PageType.SegDesc ? PageType.SegDesc : PageType.Writable;
            if (GetPageType(mfn, type, d) != 0)
            {
                PutPage(mfn);
                return -XenErrno.EINVAL;
            }
            WriteEntry(mfn, (int)((ma & 0xFFF) >> 3), descriptor, preserveAd: false);
            PutPageAndType(mfn);
            return 0;
        }
    }

    /// <summary>What <see cref="MapLdtShadowPage"/> found.</summary>
    public enum LdtMapping { Mapped, Fault, Busy }

    /// <summary>
    /// pv_map_ldt_shadow_page: the frame of LDT page <paramref name="page"/> of the vCPU, mapping it on first use.
    /// The guest kernel's page tables must map the LDT's linear address (present) to a frame of the domain's that
    /// can take the seg_desc type; <see cref="LdtMapping.Fault"/> otherwise (the guest then gets the #PF Xen passes
    /// back). From inside the CPU's run (<paramref name="mayBlock"/> false) the lock is only tried: a TLB shootdown
    /// holding it waits for this vCPU to leave its run, so waiting here would deadlock; <see cref="LdtMapping.Busy"/>
    /// then asks for the instruction to be retried.
    /// </summary>
    public LdtMapping MapLdtShadowPage(Vcpu v, int page, bool mayBlock, out ulong mfn)
    {
        mfn = 0;
        if ((uint)page >= MaxLdtPages) return LdtMapping.Fault;
        if (mayBlock) _lock.Enter();
        else if (!_lock.TryEnter()) return LdtMapping.Busy;
        try
        {
            return MapLdtShadowPageLocked(v, page, out mfn) ? LdtMapping.Mapped : LdtMapping.Fault;
        }
        finally
        {
            _lock.Exit();
        }
    }

    private bool MapLdtShadowPageLocked(Vcpu v, int page, out ulong mfn)
    {
        mfn = 0;
        var shadow = v.ShadowLdt;
        if (shadow[page] != 0)
        {
            mfn = shadow[page] - 1;
            return true;
        }
        var d = v.Domain;
        if (!Usable(d)) return false;
        ulong linear = v.LdtBase + (ulong)page * 4096;
        if (!FindL1(v.KernelPageTableBase, linear, out ulong l1, out int index)) return false;
        ulong e = ReadEntry(l1, index);
        if ((e & Present) == 0) return false;
        ulong target = MfnOf(e);
        if (GetPageAndType(target, PageType.SegDesc, d) != 0) return false;
        shadow[page] = target + 1;
        mfn = target;
        return true;
    }

    /// <summary>pv_destroy_ldt: drop every shadow-LDT reference the vCPU holds (they are taken again on use).</summary>
    public void DestroyShadowLdt(Vcpu v)
    {
        lock (_lock) DestroyShadowLdtLocked(v);
    }

    private void DestroyShadowLdtLocked(Vcpu v)
    {
        var shadow = v.ShadowLdt;
        for (int i = 0; i < shadow.Length; i++)
        {
            if (shadow[i] == 0) continue;
            ulong mfn = shadow[i] - 1;
            shadow[i] = 0;
            if (IsValidFrame(mfn) && _p.TypeCount[mfn] > 0 && _p.Type[mfn] == PageType.SegDesc) PutPageAndType(mfn);
        }
    }

    /// <summary>
    /// put_page_from_l1e for a read-only mapping of a descriptor page in use: "rare, so blow the entire shadow LDT"
    /// of every vCPU of the frame's owner, so the page can become writable again once no GDT holds it.
    /// </summary>
    private void ReleaseShadowLdtsOf(ulong mfn)
    {
        var owner = _hv.GetDomain(_frames.OwnerOf(mfn));
        if (owner == null) return;
        foreach (var v in owner.Vcpus) DestroyShadowLdtLocked(v);
    }
}
