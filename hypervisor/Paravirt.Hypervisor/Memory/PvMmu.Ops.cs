using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Memory;

/// <summary>The typed PV MMU operations behind mmu_update, mmuext_op and update_va_mapping.</summary>
public sealed partial class PvMmu
{
    private static bool Usable(Domain d) => !d.IsDying && !d.MmuRelinquished;

    // ---- mmu_update -------------------------------------------------------------------------------------------

    /// <summary>
    /// MMU_NORMAL_PT_UPDATE / MMU_PT_UPDATE_PRESERVE_AD for one request: write <paramref name="value"/> to the
    /// 8-byte entry at machine address <paramref name="ptr"/> (command bits already removed) in a frame of
    /// <paramref name="ptOwner"/>. A validated page table goes through mod_lN_entry; a frame with no type (or a
    /// writable one) is plain memory and simply written; anything else is -EINVAL.
    /// </summary>
    public int UpdatePte(Domain ptOwner, Domain pgOwner, ulong ptr, ulong value, bool preserveAd)
    {
        ulong mfn = ptr >> 12;
        int index = (int)((ptr & 0xFFF) >> 3);
        lock (_lock)
        {
            if (!Usable(ptOwner) || !Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(mfn, ptOwner)) return -XenErrno.EINVAL;
            int rc = -XenErrno.EINVAL;
            if (_p.TypeCount[mfn] > 0)
            {
                var type = _p.Type[mfn];
                if (type == PageType.L1)
                    rc = ModEntry(1, mfn, index, value, preserveAd, ptOwner, pgOwner);
                else if (IsTableType(type))
                    rc = pgOwner != ptOwner ? -XenErrno.EINVAL : ModEntry((int)type, mfn, index, value, preserveAd, ptOwner, ptOwner);
                else if (type == PageType.Writable)
                {
                    WriteEntry(mfn, index, value, preserveAd: false);
                    rc = 0;
                }
            }
            else if (GetPageType(mfn, PageType.Writable, ptOwner) == 0)
            {
                WriteEntry(mfn, index, value, preserveAd: false);
                PutPageType(mfn);
                rc = 0;
            }
            PutPage(mfn);
            return rc;
        }
    }

    /// <summary>MMU_MACHPHYS_UPDATE: record that <paramref name="mfn"/> of <paramref name="pgOwner"/> backs <paramref name="pfn"/>.</summary>
    public int MachphysUpdate(Domain pgOwner, ulong mfn, ulong pfn)
    {
        lock (_lock)
        {
            if (!Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(mfn, pgOwner)) return -XenErrno.EINVAL;
            _frames.SetMachineToPhys(mfn, pfn);
            PutPage(mfn);
            return 0;
        }
    }

    // ---- mmuext_op ----------------------------------------------------------------------------------------------

    /// <summary>MMUEXT_PIN_L{1..4}_TABLE: validate and keep the frame typed until unpinned (-EINVAL if already pinned).</summary>
    public int Pin(Domain pgOwner, PageType type, ulong mfn)
    {
        if (!IsTableType(type)) throw new ArgumentOutOfRangeException(nameof(type), type, "only page-table types can be pinned");
        lock (_lock)
        {
            if (!Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(mfn, pgOwner)) return -XenErrno.EINVAL;
            int rc = GetPageType(mfn, type, pgOwner);
            if (rc != 0)
            {
                PutPage(mfn);
                return rc;
            }
            if ((_p.Flags[mfn] & PageFlags.Pinned) != 0)
            {
                PutPageAndType(mfn);
                return -XenErrno.EINVAL;
            }
            _p.Flags[mfn] |= PageFlags.Pinned;
            return 0;
        }
    }

    /// <summary>MMUEXT_UNPIN_TABLE: drop the pin's references (-EINVAL when not the domain's frame or not pinned).</summary>
    public int Unpin(Domain pgOwner, ulong mfn)
    {
        lock (_lock)
        {
            if (!Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(mfn, pgOwner)) return -XenErrno.EINVAL;
            if ((_p.Flags[mfn] & PageFlags.Pinned) == 0)
            {
                PutPage(mfn);
                return -XenErrno.EINVAL;
            }
            _p.Flags[mfn] &= ~PageFlags.Pinned;
            PutPageAndType(mfn);
            PutPage(mfn);
            return 0;
        }
    }

    /// <summary>
    /// MMUEXT_NEW_BASEPTR (new_guest_cr3): the kernel page-table base becomes the L4 at <paramref name="mfn"/>,
    /// which must validate as an L4 of the caller's; the old base's references are dropped. The same base again
    /// just reloads CR3 (a TLB flush).
    /// </summary>
    public int NewBaseptr(Vcpu v, ulong mfn)
    {
        var d = v.Domain;
        lock (_lock)
        {
            if (!Usable(d)) return -XenErrno.EINVAL;
            ulong old = v.GuestTableMfn;
            if (old == mfn && old != 0)
            {
                LoadCr3(v);
                return 0;
            }
            int rc = GetPageAndType(mfn, PageType.L4, d);
            if (rc != 0) return rc;
            DestroyShadowLdtLocked(v); // new_guest_cr3: the LDT is mapped again, through the new tables, on use
            if (!M2pStrict(d)) FillRoMpt(mfn); // new_guest_cr3: a kernel base always maps the M2P
            v.GuestTableMfn = mfn;
            LoadCr3(v);
            if (old != 0) PutPageAndType(old);
            return 0;
        }
    }

    /// <summary>MMUEXT_NEW_USER_BASEPTR: the L4 used in guest user mode (0 = none).</summary>
    public int NewUserBaseptr(Vcpu v, ulong mfn)
    {
        var d = v.Domain;
        lock (_lock)
        {
            if (!Usable(d)) return -XenErrno.EINVAL;
            ulong old = v.GuestTableUserMfn;
            if (old == mfn) return 0;
            if (mfn != 0)
            {
                int rc = GetPageAndType(mfn, PageType.L4, d);
                if (rc != 0) return rc;
                if (M2pStrict(d)) ZapRoMpt(mfn); // m2p_strict: user mode does not see the M2P
            }
            v.GuestTableUserMfn = mfn;
            if (!v.InKernelMode) LoadCr3(v);
            if (old != 0) PutPageAndType(old);
            return 0;
        }
    }

    /// <summary>update_cr3 + write_ptbase: CR3 from the base of the current guest mode, and a full flush.</summary>
    private static void LoadCr3(Vcpu v)
    {
        v.Registers.Cr3 = v.PageTableBaseFor(v.InKernelMode);
        v.Cpu.FlushTlb();
    }

    /// <summary>MMUEXT_CLEAR_PAGE: zero a frame of the domain's that may be written (not a page table or descriptor page).</summary>
    public int ClearPage(Domain pgOwner, ulong mfn)
    {
        lock (_lock)
        {
            if (!Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(mfn, pgOwner)) return -XenErrno.EINVAL;
            if (GetPageType(mfn, PageType.Writable, pgOwner) != 0)
            {
                PutPage(mfn);
                return -XenErrno.EINVAL;
            }
            _mem.Clear(mfn);
            PutPageAndType(mfn);
            return 0;
        }
    }

    /// <summary>MMUEXT_COPY_PAGE: copy frame <paramref name="src"/> (any of the domain's) into a writable one, <paramref name="dst"/>.</summary>
    public int CopyPage(Domain pgOwner, ulong dst, ulong src)
    {
        lock (_lock)
        {
            if (!Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(src, pgOwner)) return -XenErrno.EINVAL;
            if (!GetPage(dst, pgOwner))
            {
                PutPage(src);
                return -XenErrno.EINVAL;
            }
            if (GetPageType(dst, PageType.Writable, pgOwner) != 0)
            {
                PutPage(src);
                PutPage(dst);
                return -XenErrno.EINVAL;
            }
            if (dst != src) _mem.FrameForRead(src).CopyTo(_mem.FrameForWrite(dst));
            PutPageAndType(dst);
            PutPage(src);
            return 0;
        }
    }

    // ---- update_va_mapping ----------------------------------------------------------------------------------------

    /// <summary>
    /// guest_map_l1e: the L1 table and slot that map <paramref name="va"/> in the vCPU's current address space, or
    /// false when the address is outside the guest's range or no L1 table covers it (a superpage, a missing level).
    /// </summary>
    private bool FindL1(Vcpu v, ulong va, out ulong l1Mfn, out int index) => FindL1(v.Registers.Cr3, va, out l1Mfn, out index);

    /// <summary><see cref="FindL1(Vcpu, ulong, out ulong, out int)"/> in the page tables at <paramref name="cr3"/>.</summary>
    private bool FindL1(ulong cr3, ulong va, out ulong l1Mfn, out int index)
    {
        l1Mfn = 0;
        index = 0;
        if (!PageTableWalker.IsCanonical(va) || (va >= X86_64.HypervisorVirtStart && va < X86_64.HypervisorVirtEnd)) return false;
        ulong table = (cr3 & AddressMask) >> 12;
        for (int level = 4; level >= 2; level--)
        {
            if (!IsValidFrame(table) || _p.TypeCount[table] <= 0 || _p.Type[table] != (PageType)level) return false;
            ulong e = ReadEntry(table, (int)((va >> (12 + 9 * (level - 1))) & 511));
            if ((e & Present) == 0 || (e & Pse) != 0) return false;
            table = MfnOf(e);
        }
        l1Mfn = table;
        index = (int)((va >> 12) & 511);
        return true;
    }

    /// <summary>
    /// __do_update_va_mapping's update half: write the L1 entry for <paramref name="va"/> in the caller's current
    /// page tables (-EINVAL when there is none, or it is not a validated L1 of the caller's).
    /// </summary>
    public int UpdateVaMapping(Vcpu v, ulong va, ulong value, Domain pgOwner)
    {
        var d = v.Domain;
        lock (_lock)
        {
            if (!Usable(d) || !Usable(pgOwner)) return -XenErrno.EINVAL;
            if (!FindL1(v, va, out ulong l1, out int index)) return -XenErrno.EINVAL;
            if (!GetPage(l1, d)) return -XenErrno.EINVAL;
            int rc = _p.TypeCount[l1] > 0 && _p.Type[l1] == PageType.L1
                ? ModEntry(1, l1, index, value, false, d, pgOwner)
                : -XenErrno.EINVAL;
            PutPage(l1);
            return rc;
        }
    }

    // ---- TLB maintenance ----------------------------------------------------------------------------------------

    /// <summary>
    /// flush_tlb_mask / flush_tlb_one_mask for the vCPUs of <paramref name="d"/> selected by <paramref name="mask"/>
    /// (bit i = vCPU i; null = all). Synchronous, as Xen waits for its flush IPIs: when this returns no selected vCPU
    /// can use a translation it cached before.
    /// </summary>
    public void Flush(Domain d, Vcpu? current, ulong? mask, ulong? va)
    {
        var vcpus = d.Vcpus;
        for (int i = 0; i < vcpus.Count; i++)
        {
            if (mask is { } m && (i >= 64 || (m & (1UL << i)) == 0)) continue;
            ShootDown(vcpus[i], current, va);
        }
    }

    /// <summary>Every vCPU of every domain (a frame that may be cached writable anywhere is becoming a page table).</summary>
    private void ShootDownAll()
    {
        foreach (var d in _hv.Domains)
            foreach (var v in d.Vcpus)
                ShootDown(v, null, null);
    }

    private static void ShootDown(Vcpu target, Vcpu? current, ulong? va)
    {
        if (va is { } a) target.Cpu.InvalidatePage(a);
        else target.Cpu.FlushTlb();
        // The flush request is applied before the vCPU's next instruction block; one inside Run right now may
        // still finish its current block with an old translation, so wait until it has left Run (it cannot
        // re-enter while we hold its domain's state lock).
        if (target == current || target.Thread == Thread.CurrentThread || !target.IsRunning) return;
        var d = target.Domain;
        lock (d.StateLock)
        {
            target.Cpu.Kick();
            var spin = new SpinWait();
            while (target.IsRunning && !d.IsDying) spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    // ---- grants, foreign mappings, special pages ---------------------------------------------------------------

    /// <summary>A hypervisor page shared writable with its domain for good (a grant-table frame): never a page table.</summary>
    public void MarkSpecial(ulong mfn)
    {
        lock (_lock)
            if (IsValidFrame(mfn)) _p.Flags[mfn] |= PageFlags.Special;
    }

    /// <summary>True when a writable access to the frame is allowed now: it holds no page-table or descriptor type.</summary>
    public bool AllowsWrites(ulong mfn)
    {
        lock (_lock)
            return IsValidFrame(mfn) && (_p.TypeCount[mfn] == 0 || _p.Type[mfn] == PageType.Writable);
    }

    /// <summary>True when the frame currently has a page-table type (L1..L4) with references.</summary>
    public bool IsPageTable(ulong mfn)
    {
        lock (_lock)
            return IsValidFrame(mfn) && _p.TypeCount[mfn] > 0 && IsTableType(_p.Type[mfn]);
    }

    /// <summary>
    /// A writable mapping outside the guest's page tables (a managed domain's foreign or grant mapping): one general
    /// and one PGT_writable_page reference, so the frame cannot become a page table while it exists.
    /// </summary>
    public bool TryGetWritableRef(Domain owner, ulong mfn)
    {
        lock (_lock)
        {
            if (!GetPage(mfn, owner)) return false;
            if (GetPageType(mfn, PageType.Writable, owner) != 0)
            {
                PutPage(mfn);
                return false;
            }
            return true; // a managed mapping is a span, not a translation: no TLB to shoot down later
        }
    }

    public void PutWritableRef(ulong mfn)
    {
        lock (_lock)
            if (IsValidFrame(mfn)) PutPageAndType(mfn);
    }

    /// <summary>
    /// create_grant_va_mapping: point the grantee's L1 entry for <paramref name="va"/> at the granted frame, the
    /// entry owning one general (and, writable, one type) reference on it, as a PTE the guest wrote would. The old
    /// entry's references are dropped. Returns a GNTST_* status.
    /// </summary>
    public short CreateGrantHostMapping(Vcpu grantee, ulong va, Domain granter, ulong mfn, bool readOnly, bool userAccessible,
        uint grantFlags = 0)
    {
        var d = grantee.Domain;
        lock (_lock)
        {
            if (!Usable(d) || !Usable(granter)) return Grants.GrantStatus.GeneralError;
            if (!FindL1(grantee, va, out ulong l1, out int index) || _frames.OwnerOf(l1) != d.Id) return Grants.GrantStatus.GeneralError;
            short st = InstallGrantPte(l1, index, granter, mfn, readOnly, userAccessible, grantFlags);
            if (st == Grants.GrantStatus.Okay) grantee.Cpu.InvalidatePage(va);
            return st;
        }
    }

    /// <summary>
    /// create_grant_pte_mapping (GNTMAP_contains_pte): the same, for the entry at machine address
    /// <paramref name="pteAddress"/>, which must be an aligned entry of a validated L1 table of the grantee's.
    /// </summary>
    public short CreateGrantPteMapping(Vcpu grantee, ulong pteAddress, Domain granter, ulong mfn, bool readOnly, bool userAccessible,
        uint grantFlags)
    {
        var d = grantee.Domain;
        lock (_lock)
        {
            if (!Usable(d) || !Usable(granter)) return Grants.GrantStatus.GeneralError;
            if ((pteAddress & 7) != 0 || !IsOwnL1(d, pteAddress >> 12)) return Grants.GrantStatus.GeneralError;
            short st = InstallGrantPte(pteAddress >> 12, (int)((pteAddress & 0xFFF) >> 3), granter, mfn, readOnly, userAccessible, grantFlags);
            // No linear address is known: flush the grantee's translations so the entry it replaced is gone.
            if (st == Grants.GrantStatus.Okay) Flush(d, grantee, null, null);
            return st;
        }
    }

    private bool IsOwnL1(Domain d, ulong l1) =>
        IsValidFrame(l1) && _frames.OwnerOf(l1) == d.Id && _p.TypeCount[l1] > 0 && _p.Type[l1] == PageType.L1;

    /// <summary>
    /// The entry of a granted frame: references taken, then grant_to_pte_flags: present, accessed, dirty, NX; RW
    /// unless read-only; user for GNTMAP_application_map; the flags' guest-available bits (GNTMAP_guest_avail0 on)
    /// in the PTE's AVAIL bits 9-11.
    /// </summary>
    private short InstallGrantPte(ulong l1, int index, Domain granter, ulong mfn, bool readOnly, bool userAccessible, uint grantFlags)
    {
        if (!GetPage(mfn, granter)) return Grants.GrantStatus.GeneralError;
        if (!readOnly)
        {
            if (GetPageType(mfn, PageType.Writable, granter) != 0)
            {
                PutPage(mfn);
                return Grants.GrantStatus.GeneralError;
            }
            _p.Flags[mfn] |= PageFlags.MaybeWritableInTlb | PageFlags.MaybeForeignWritable;
        }
        ulong avail = ((ulong)(grantFlags >> Grants.GrantMapFlags.GuestAvail0) << 9) & Avail;
        ulong pte = (mfn << 12) | Present | Accessed | Dirty | Nx | (readOnly ? 0 : Rw) | (userAccessible ? User : 0) | avail;
        ulong old = ReadEntry(l1, index);
        WriteEntry(l1, index, Adjust(1, pte), preserveAd: false);
        PutPageFromL1e(old);
        return Grants.GrantStatus.Okay;
    }

    /// <summary>
    /// destroy_grant_va_mapping: clear the grantee's entry for <paramref name="va"/> if it still maps
    /// <paramref name="mfn"/> and drop the references it held (GNTST_general_error otherwise: the entry stays).
    /// </summary>
    public short DestroyGrantHostMapping(Vcpu grantee, ulong va, ulong mfn)
    {
        var d = grantee.Domain;
        lock (_lock)
        {
            if (!FindL1(grantee, va, out ulong l1, out int index) || _frames.OwnerOf(l1) != d.Id) return Grants.GrantStatus.GeneralError;
            if (!ClearGrantPte(l1, index, mfn)) return Grants.GrantStatus.GeneralError;
            Flush(d, grantee, null, va);
            return Grants.GrantStatus.Okay;
        }
    }

    /// <summary>destroy_grant_pte_mapping: the same for the entry at machine address <paramref name="pteAddress"/>.</summary>
    public short DestroyGrantPteMapping(Vcpu grantee, ulong pteAddress, ulong mfn)
    {
        var d = grantee.Domain;
        lock (_lock)
        {
            if ((pteAddress & 7) != 0 || !IsOwnL1(d, pteAddress >> 12)) return Grants.GrantStatus.GeneralError;
            if (!ClearGrantPte(pteAddress >> 12, (int)((pteAddress & 0xFFF) >> 3), mfn)) return Grants.GrantStatus.GeneralError;
            Flush(d, grantee, null, null);
            return Grants.GrantStatus.Okay;
        }
    }

    private bool ClearGrantPte(ulong l1, int index, ulong mfn)
    {
        ulong old = ReadEntry(l1, index);
        if ((old & Present) == 0 || MfnOf(old) != mfn) return false;
        WriteEntry(l1, index, 0, preserveAd: false);
        PutPageFromL1e(old);
        return true;
    }

    // ---- domain start and end -----------------------------------------------------------------------------------

    /// <summary>
    /// arch_set_info_guest's page-table part, for bringing up a vCPU (VCPUOP_initialise): the kernel base
    /// <paramref name="kernelL4"/> (and user base <paramref name="userL4"/>, 0 = none) must validate as L4s of the
    /// domain's; the vCPU's previous bases are released. -EINVAL (or the validation error) leaves it unchanged.
    /// </summary>
    public int SetVcpuBases(Vcpu v, ulong kernelL4, ulong userL4)
    {
        var d = v.Domain;
        lock (_lock)
        {
            if (!Usable(d)) return -XenErrno.EINVAL;
            int rc = GetPageAndType(kernelL4, PageType.L4, d);
            if (rc != 0) return rc;
            if (userL4 != 0 && (rc = GetPageAndType(userL4, PageType.L4, d)) != 0)
            {
                PutPageAndType(kernelL4);
                return rc;
            }
            if (v.GuestTableMfn != 0) PutPageAndType(v.GuestTableMfn);
            if (v.GuestTableUserMfn != 0) PutPageAndType(v.GuestTableUserMfn);
            // arch_set_info_guest: as new_guest_cr3 and MMUEXT_NEW_USER_BASEPTR for the two bases.
            if (!M2pStrict(d)) FillRoMpt(kernelL4);
            if (userL4 != 0 && M2pStrict(d)) ZapRoMpt(userL4);
            v.GuestTableMfn = kernelL4;
            v.GuestTableUserMfn = userL4;
            LoadCr3(v);
            return 0;
        }
    }

    /// <summary>
    /// What Xen's toolstack does after building a PV domain (pin_table in xg_dom_x86.c, then the vCPU context's
    /// cr3 in arch_set_info_guest): validate and pin the bootstrap L4, and make it vCPU 0's kernel base.
    /// Throws <see cref="HypervisorException"/> when the tables do not validate (a builder bug, never a guest's).
    /// </summary>
    public void InstallBootTables(Domain d, ulong l4Mfn)
    {
        int rc = Pin(d, PageType.L4, l4Mfn);
        if (rc != 0) throw new HypervisorException(-rc, $"d{d.Id}: bootstrap page tables at mfn 0x{l4Mfn:x} do not validate (errno {-rc})");
        var v = d.Vcpus[0];
        lock (_lock)
        {
            rc = GetPageAndType(l4Mfn, PageType.L4, d);
            if (rc != 0) throw new HypervisorException(-rc, $"d{d.Id}: cannot take the bootstrap L4 as base (errno {-rc})");
            if (!M2pStrict(d)) FillRoMpt(l4Mfn); // arch_set_info_guest's cr3, as new_guest_cr3
            if (v.GuestTableMfn != 0) PutPageAndType(v.GuestTableMfn);
            v.GuestTableMfn = l4Mfn;
            v.Registers.Cr3 = l4Mfn << 12;
            v.Cpu.FlushTlb();
        }
    }

    /// <summary>
    /// domain_relinquish_resources for the MMU: drop the references the dying domain's page tables hold on frames it
    /// does not own (grant mappings), so the granters' frames carry no stale counts; afterwards every MMU operation
    /// on the domain fails. Its own frames go back to the pool as they are (their page_info is reset on reuse).
    /// </summary>
    public void Relinquish(Domain d)
    {
        lock (_lock)
        {
            if (d.MmuRelinquished) return;
            d.MmuRelinquished = true;
            foreach (var mfn in d.OwnedMemoryFrames())
            {
                if (!IsValidFrame(mfn) || _p.TypeCount[mfn] <= 0 || _p.Type[mfn] != PageType.L1
                    || (_p.Flags[mfn] & PageFlags.Validated) == 0) continue;
                for (int i = 0; i < 512; i++)
                {
                    ulong e = ReadEntry(mfn, i);
                    if ((e & Present) == 0) continue;
                    ulong target = MfnOf(e);
                    if (IsValidFrame(target) && _frames.OwnerOf(target) != d.Id) PutPageFromL1e(e);
                }
                _p.Flags[mfn] &= ~PageFlags.Validated;
            }
            foreach (var v in d.Vcpus)
            {
                v.GuestTableMfn = 0;
                v.GuestTableUserMfn = 0;
            }
        }
    }
}
