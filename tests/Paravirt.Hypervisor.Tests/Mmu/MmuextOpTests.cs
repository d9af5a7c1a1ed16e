using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>HYPERVISOR_mmuext_op: pinning, base pointers, flushes, LDT, page clear/copy and their errno.</summary>
internal class MmuextOpTests : MmuTestBase
{
    [Test]
    public void TheBuilderPinsTheBootL4AndMakesItVcpu0sBase()
    {
        Assert.That(Pages.IsPinned(L4), Is.True);
        Assert.That(Pages.TypeOf(L4), Is.EqualTo(PageType.L4));
        Assert.That(Pages.TypeCountOf(L4), Is.EqualTo(2), "one for the pin, one for guest_table");
        Assert.That(V.GuestTableMfn, Is.EqualTo(L4));
        Assert.That(V.Registers.Cr3, Is.EqualTo(L4 << 12));
        Assert.That(Read(L4, M2pTable.L4Slot), Is.EqualTo(Mmu.M2p.L4Entry));
        Assert.That(Pages.TypeOf(Dom.P2m[Layout.LevelPfn[0]]), Is.EqualTo(PageType.L1));
    }

    [Test]
    public void PinningAnL1ValidatesItAndKeepsItTyped()
    {
        ulong l1 = MakeTable(0, (3, (Spare(Dom, 1) << 12) | P | Rw));
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.Zero);
        Assert.That(Pages.TypeOf(l1), Is.EqualTo(PageType.L1));
        Assert.That(Pages.IsPinned(l1), Is.True);
        Assert.That(Read(l1, 3) & U, Is.EqualTo(U), "validation makes entries user-accessible");
        Assert.That(Pages.TypeOf(Spare(Dom, 1)), Is.EqualTo(PageType.Writable));
    }

    [Test]
    public void APinnedTableCannotBeMappedWritableUntilUnpinned()
    {
        ulong l1 = MakeTable(0);
        ulong pte = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.Zero);
        Assert.That(MmuUpdate(pte, (l1 << 12) | P | Rw), Is.EqualTo(-XenErrno.EBUSY));
        Assert.That(Mmuext(MmuextOp.UnpinTable, l1), Is.Zero);
        Assert.That(MmuUpdate(pte, (l1 << 12) | P | Rw), Is.Zero);
    }

    [Test]
    public void PinningAnL1ThatMapsAnotherDomainsFrameFailsWithNoTrace()
    {
        ulong l1 = MakeTable(0, (0, (Spare(Dom, 1) << 12) | P | Rw), (1, (Spare(Peer, 0) << 12) | P));
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.EqualTo(-XenErrno.EBUSY));
        Assert.That(Pages.TypeCountOf(l1), Is.Zero);
        Assert.That(Pages.RefCountOf(l1), Is.Zero);
        Assert.That(Pages.RefCountOf(Spare(Dom, 1)), Is.Zero, "references taken before the failing entry are dropped");
        Assert.That(Pages.RefCountOf(Spare(Peer, 0)), Is.Zero);
    }

    [Test]
    public void PinningAFrameThatIsMappedWritableIsEINVAL()
    {
        ulong stack = Dom.P2m[Layout.BootStackPfn];
        Assert.That(Mmuext(MmuextOp.PinL1Table, stack), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Pages.TypeOf(stack), Is.EqualTo(PageType.Writable));
    }

    [Test]
    public void PinningTwiceIsEINVALAndKeepsOnePin()
    {
        ulong l1 = MakeTable(0);
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.Zero);
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Pages.TypeCountOf(l1), Is.EqualTo(1));
        Assert.That(Pages.RefCountOf(l1), Is.EqualTo(1));
    }

    [Test]
    public void PinningAtTheWrongLevelIsEINVAL()
    {
        ulong l1 = MakeTable(0);
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.Zero);
        Assert.That(Mmuext(MmuextOp.PinL2Table, l1), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void PinningAnotherDomainsFrameIsEINVAL() =>
        Assert.That(Mmuext(MmuextOp.PinL1Table, Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void PinningTheSharedInfoPageIsEINVAL() =>
        Assert.That(Mmuext(MmuextOp.PinL1Table, Dom.SharedInfoMfn), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void UnpinningAnUnpinnedTableIsEINVAL() =>
        Assert.That(Mmuext(MmuextOp.UnpinTable, MakeTable(0)), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void UnpinningAnotherDomainsFrameIsEINVAL() =>
        Assert.That(Mmuext(MmuextOp.UnpinTable, Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void AnL4OverwritesWhateverTheGuestPutInTheHypervisorSlots()
    {
        ulong l4 = CloneL4(0);
        Write(l4, 256, (Spare(Dom, 1) << 12) | P | Rw);
        Write(l4, 260, (Spare(Peer, 0) << 12) | P | Rw);
        Assert.That(Mmuext(MmuextOp.PinL4Table, l4), Is.Zero);
        Assert.That(Read(l4, 256), Is.Zero, "without m2p_strict the M2P comes only with use as a kernel base");
        Assert.That(Read(l4, 260), Is.Zero);
        Assert.That(Pages.RefCountOf(Spare(Dom, 1)), Is.Zero);
    }

    [Test]
    public void NewBaseptrSwitchesCr3AndMovesTheReference()
    {
        ulong l4 = CloneL4(0);
        int before = Pages.TypeCountOf(L4);
        Assert.That(Mmuext(MmuextOp.NewBaseptr, l4), Is.Zero);
        Assert.That(V.GuestTableMfn, Is.EqualTo(l4));
        Assert.That(V.Registers.Cr3, Is.EqualTo(l4 << 12));
        Assert.That(Pages.TypeOf(l4), Is.EqualTo(PageType.L4));
        Assert.That(Pages.TypeCountOf(L4), Is.EqualTo(before - 1));
        Assert.That(GuestMemory.Read(V, Scratch, out ulong _), Is.True, "the kernel is still mapped");
    }

    [Test]
    public void NewBaseptrToAFrameThatIsNotAnL4OfTheCallerIsEINVAL()
    {
        Assert.That(Mmuext(MmuextOp.NewBaseptr, Dom.P2m[Layout.BootStackPfn]), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Mmuext(MmuextOp.NewBaseptr, Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Mmuext(MmuextOp.NewBaseptr, F.Memory.FrameCount + 5), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(V.Registers.Cr3, Is.EqualTo(L4 << 12));
    }

    [Test]
    public void ABadL4IsRefusedWithTheErrorOfItsBadEntry()
    {
        ulong l4 = CloneL4(0);
        Write(l4, 5, (Spare(Peer, 0) << 12) | P | Rw);
        Assert.That(Mmuext(MmuextOp.NewBaseptr, l4), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Pages.TypeCountOf(l4), Is.Zero);
        Assert.That(V.GuestTableMfn, Is.EqualTo(L4));
    }

    [Test]
    public void NewUserBaseptrTakesAnL4OrZero()
    {
        ulong l4 = CloneL4(0);
        Assert.That(Mmuext(MmuextOp.NewUserBaseptr, l4), Is.Zero);
        Assert.That(V.GuestTableUserMfn, Is.EqualTo(l4));
        Assert.That(Pages.TypeCountOf(l4), Is.EqualTo(1));
        Assert.That(Mmuext(MmuextOp.NewUserBaseptr, 0), Is.Zero);
        Assert.That(V.GuestTableUserMfn, Is.Zero);
        Assert.That(Pages.TypeCountOf(l4), Is.Zero);
        Assert.That(Mmuext(MmuextOp.NewUserBaseptr, Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void WithoutM2pStrictAnL4GainsTheM2pOnlyWhenItBecomesAKernelBase()
    {
        ulong user = CloneL4(0), kernel = CloneL4(1);
        Write(user, M2pTable.L4Slot, 0);
        Write(kernel, M2pTable.L4Slot, 0);
        Assert.That(Mmuext(MmuextOp.NewUserBaseptr, user), Is.Zero);
        Assert.That(Read(user, M2pTable.L4Slot), Is.Zero, "promote_l4_table leaves slot 256 empty without m2p_strict");
        Assert.That(Mmuext(MmuextOp.NewBaseptr, kernel), Is.Zero);
        Assert.That(Read(kernel, M2pTable.L4Slot), Is.EqualTo(Mmu.M2p.L4Entry), "new_guest_cr3 fills it");
    }

    [Test]
    public void WithM2pStrictEveryL4HasTheM2pButAUserBaseLosesIt()
    {
        ulong user = CloneL4(0), kernel = CloneL4(1);
        Write(user, M2pTable.L4Slot, 0);
        Write(kernel, M2pTable.L4Slot, 0);
        Assert.That(Mmuext(MmuextOp.PinL4Table, kernel), Is.Zero);
        Assert.That(Read(kernel, M2pTable.L4Slot), Is.Zero);
        // Turning the assist on fills every L4 the domain has (the pinned one too).
        Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdEnable, VmAssistOp.TypeM2pStrict), Is.Zero);
        Assert.That(Read(kernel, M2pTable.L4Slot), Is.EqualTo(Mmu.M2p.L4Entry));
        Assert.That(Mmuext(MmuextOp.NewUserBaseptr, user), Is.Zero);
        Assert.That(Read(user, M2pTable.L4Slot), Is.Zero, "zap_ro_mpt: user mode does not see the M2P");
        Assert.That(Mmuext(MmuextOp.NewBaseptr, kernel), Is.Zero);
        Assert.That(Read(kernel, M2pTable.L4Slot), Is.EqualTo(Mmu.M2p.L4Entry));
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void BasePointersOfAnotherDomainAreEPERM()
    {
        // foreigndom names a domain the caller has no rights over: refused before any operation.
        Assert.That(Mmuext(MmuextOp.NewBaseptr, L4, foreigndom: Peer.Id), Is.EqualTo(-XenErrno.EPERM));
    }

    [Test]
    public void BringingUpAVcpuTakesValidatedBases()
    {
        ulong k = CloneL4(0), u = CloneL4(1);
        Assert.That(Mmu.SetVcpuBases(V, k, u), Is.Zero);
        Assert.That((V.GuestTableMfn, V.GuestTableUserMfn), Is.EqualTo((k, u)));
        Assert.That(V.Registers.Cr3, Is.EqualTo(k << 12));
        Assert.That(Mmu.SetVcpuBases(V, Dom.P2m[Layout.BootStackPfn], 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Mmu.SetVcpuBases(V, L4, Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(V.GuestTableMfn, Is.EqualTo(k), "a refused bring-up leaves the vCPU as it was");
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [TestCase(MmuextOp.TlbFlushLocal)]
    [TestCase(MmuextOp.TlbFlushAll)]
    [TestCase(MmuextOp.InvlpgLocal)]
    [TestCase(MmuextOp.InvlpgAll)]
    public void FlushesSucceed(uint cmd) => Assert.That(Mmuext(cmd, 0xffffffff80001000), Is.Zero);

    [Test]
    public void MultiFlushesReadTheVcpuMask()
    {
        Put64(0x200, 1);
        Assert.That(Mmuext(MmuextOp.TlbFlushMulti, 0, Scratch + 0x200), Is.Zero);
        Assert.That(Mmuext(MmuextOp.InvlpgMulti, 0xffffffff80001000, Scratch + 0x200), Is.Zero);
        Assert.That(Mmuext(MmuextOp.TlbFlushMulti, 0, 0x1000), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void CacheFlushesNeedIoResources()
    {
        Assert.That(Mmuext(MmuextOp.FlushCache), Is.EqualTo(-XenErrno.EACCES));
        Assert.That(Mmuext(MmuextOp.FlushCacheGlobal), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void SuperpageMarkingIsEOPNOTSUPP()
    {
        Assert.That(Mmuext(MmuextOp.MarkSuper, Spare(Dom, 0)), Is.EqualTo(-XenErrno.EOPNOTSUPP));
        Assert.That(Mmuext(MmuextOp.UnmarkSuper, Spare(Dom, 0)), Is.EqualTo(-XenErrno.EOPNOTSUPP));
    }

    [TestCase(14u)]
    [TestCase(21u)]
    [TestCase(0xFFFFFFFFu)]
    public void AnUnknownCommandIsENOSYS(uint cmd) => Assert.That(Mmuext(cmd), Is.EqualTo(-XenErrno.ENOSYS));

    [Test]
    public void SetLdtRecordsAnAlignedLdt()
    {
        Assert.That(Mmuext(MmuextOp.SetLdt, 0xffffffff80400000, 16), Is.Zero);
        Assert.That(V.LdtBase, Is.EqualTo(0xffffffff80400000UL));
        Assert.That(V.LdtEntries, Is.EqualTo(16u));
        Assert.That(Mmuext(MmuextOp.SetLdt, 0x1234, 0), Is.Zero, "no entries: the address is ignored");
        Assert.That(V.LdtBase, Is.Zero);
    }

    [TestCase(0xffffffff80400008UL, 16u)]
    [TestCase(0xffffffff80400000UL, 8193u)]
    [TestCase(0xffff800000000000UL, 1u)]
    public void SetLdtWithABadAddressOrSizeIsEINVAL(ulong va, uint ents) =>
        Assert.That(Mmuext(MmuextOp.SetLdt, va, ents), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void ClearPageZeroesAWritableFrame()
    {
        ulong f = Spare(Dom, 0);
        F.Memory.WriteUInt64((f << 12) + 40, 0x55);
        Assert.That(Mmuext(MmuextOp.ClearPage, f), Is.Zero);
        Assert.That(F.Memory.ReadUInt64((f << 12) + 40), Is.Zero);
    }

    [Test]
    public void ClearPageOfAPageTableOrAForeignFrameIsEINVAL()
    {
        Assert.That(Mmuext(MmuextOp.ClearPage, L4), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Mmuext(MmuextOp.ClearPage, Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Read(L4, 511), Is.Not.Zero);
    }

    [Test]
    public void CopyPageCopiesIntoAWritableFrame()
    {
        F.Memory.WriteUInt64((Spare(Dom, 1) << 12) + 8, 0xabcdef);
        Assert.That(Mmuext(MmuextOp.CopyPage, Spare(Dom, 0), Spare(Dom, 1)), Is.Zero);
        Assert.That(F.Memory.ReadUInt64((Spare(Dom, 0) << 12) + 8), Is.EqualTo(0xabcdefUL));
    }

    [Test]
    public void CopyPageIntoAPageTableOrFromAForeignFrameIsEINVAL()
    {
        Assert.That(Mmuext(MmuextOp.CopyPage, L4, Spare(Dom, 0)), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Mmuext(MmuextOp.CopyPage, Spare(Dom, 0), Spare(Peer, 0)), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void DoneCountsCompletedOperations()
    {
        ulong ops = Scratch + 0x100;
        ulong[] cmds = [MmuextOp.TlbFlushLocal, MmuextOp.TlbFlushLocal, 99];
        for (int i = 0; i < 3; i++)
        {
            Assert.That(GuestMemory.Write(V, ops + (ulong)i * 24, cmds[i]), Is.True);
            Put64(0x108 + (ulong)i * 24, 0);
            Put64(0x110 + (ulong)i * 24, 0);
        }
        Assert.That(CallL(Hypercall.MmuextOp, ops, 3, Scratch + 0x800, DomId.Self), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(Get32(0x800), Is.EqualTo(2u));
    }

    [Test]
    public void AnUnknownForeignDomainIsESRCH() =>
        Assert.That(Mmuext(MmuextOp.TlbFlushLocal, foreigndom: 0x7000), Is.EqualTo(-XenErrno.ESRCH));
}
