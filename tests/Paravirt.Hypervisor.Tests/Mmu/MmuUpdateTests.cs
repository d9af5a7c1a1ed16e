using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>HYPERVISOR_mmu_update: validated page-table writes, their errno, done counts and continuations.</summary>
internal class MmuUpdateTests : MmuTestBase
{
    private ulong TargetVa => Layout.VirtOf(Layout.BootStackPfn);

    [Test]
    public void MappingAnOwnFrameTakesAGeneralAndAWritableTypeReference()
    {
        ulong frame = Spare(Dom, 0);
        ulong pte = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        Assert.That(MmuUpdate(pte, (frame << 12) | P | Rw), Is.Zero);
        Assert.That(Pages.RefCountOf(frame), Is.EqualTo(1));
        Assert.That(Pages.TypeOf(frame), Is.EqualTo(PageType.Writable));
        // adjust_guest_l1e: a kernel mapping is made user-accessible (the PV kernel runs in ring 3).
        Assert.That(F.Memory.ReadUInt64(pte) & (U | PvMmu.GuestKernel), Is.EqualTo(U | PvMmu.GuestKernel));
    }

    [Test]
    public void ReplacingAMappingDropsTheOldReferences()
    {
        ulong frame = Spare(Dom, 0);
        ulong pte = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        Assert.That(MmuUpdate(pte, (frame << 12) | P | Rw), Is.Zero);
        Assert.That(MmuUpdate(pte, 0), Is.Zero);
        Assert.That(Pages.RefCountOf(frame), Is.Zero);
        Assert.That(Pages.TypeCountOf(frame), Is.Zero);
    }

    [Test]
    public void MappingAnotherDomainsFrameIsEBUSY()
    {
        ulong pte = PteAddress(TargetVa);
        ulong before = F.Memory.ReadUInt64(pte);
        Assert.That(MmuUpdate(pte, (Spare(Peer, 0) << 12) | P), Is.EqualTo(-XenErrno.EBUSY));
        Assert.That(F.Memory.ReadUInt64(pte), Is.EqualTo(before), "a rejected update leaves the entry as it was");
    }

    [Test]
    public void MappingAHypervisorFrameIsEBUSY() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), (Mmu.M2p.DataFrames[0] << 12) | P), Is.EqualTo(-XenErrno.EBUSY));

    [Test]
    public void MappingAFrameOutsideMachineMemoryIsEPERM() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), (F.Memory.FrameCount << 12) | P), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void MappingTheInvalidMfnPatternIsEINVAL() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), PvMmu.AddressMask | P), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void MappingAPageTableWritableIsEBUSY() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), (L4 << 12) | P | Rw), Is.EqualTo(-XenErrno.EBUSY));

    [Test]
    public void MappingAPageTableReadOnlyIsAllowed() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), (L4 << 12) | P), Is.Zero);

    [TestCase(PvMmu.Pwt)]
    [TestCase(PvMmu.Pcd)]
    [TestCase(PvMmu.Pat)]
    public void CacheAttributeBitsInAnL1EntryAreEINVAL(ulong bit) =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), (Spare(Dom, 0) << 12) | P | bit), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void TheGlobalBitIsAllowedInAnL1Entry() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), (Spare(Dom, 0) << 12) | P | PvMmu.Global), Is.Zero);

    [Test]
    public void A2MiBSuperpageInAnL2EntryIsEINVAL()
    {
        ulong l2e = PteAddress(TargetVa, level: 2);
        Assert.That(MmuUpdate(l2e, (Spare(Dom, 0) << 12) | P | Rw | PvMmu.Pse), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void AnL2EntryMustReferenceAnL1OfTheDomain()
    {
        ulong l2e = PteAddress(TargetVa, level: 2);
        // A frame mapped writable (the boot stack) cannot become an L1.
        ulong stack = Dom.P2m[Layout.BootStackPfn];
        Assert.That(MmuUpdate(l2e + 8, (stack << 12) | P | Rw), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(MmuUpdate(l2e + 8, (Spare(Peer, 0) << 12) | P | Rw), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void AnL2EntryToAnEmptyFrameValidatesItAsAnL1()
    {
        ulong l2e = PteAddress(TargetVa, level: 2);
        ulong l1 = MakeTable(0, (0, (Spare(Dom, 1) << 12) | P | Rw));
        // A free slot of the L2 table that maps TargetVa (the builder fills the ones in front of it).
        ulong l2 = l2e >> 12;
        int slot = Enumerable.Range(0, 512).First(i => (Read(l2, i) & P) == 0);
        ulong entry = (l2 << 12) + (ulong)slot * 8;
        Assert.That(MmuUpdate(entry, (l1 << 12) | P | Rw), Is.Zero);
        Assert.That(Pages.TypeOf(l1), Is.EqualTo(PageType.L1));
        Assert.That(Pages.IsValidated(l1), Is.True);
        Assert.That(Pages.TypeOf(Spare(Dom, 1)), Is.EqualTo(PageType.Writable));
        // Unhooking it drops the last type reference: the table devalidates and lets go of what it mapped.
        Assert.That(MmuUpdate(entry, 0), Is.Zero);
        Assert.That(Pages.TypeCountOf(l1), Is.Zero);
        Assert.That(Pages.RefCountOf(Spare(Dom, 1)), Is.Zero);
    }

    [TestCase(256)]
    [TestCase(263)]
    [TestCase(271)]
    public void HypervisorL4SlotsCannotBeWritten(int slot) =>
        Assert.That(MmuUpdate((L4 << 12) + (ulong)slot * 8, 0), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void TheL4SlotsNextToTheHypervisorRangeAreTheGuests()
    {
        ulong l3 = MakeTable(0);
        Assert.That(MmuUpdate((L4 << 12) + 255 * 8, (l3 << 12) | P | Rw), Is.Zero);
        Assert.That(MmuUpdate((L4 << 12) + 272 * 8, 0), Is.Zero);
        Assert.That(Pages.TypeOf(l3), Is.EqualTo(PageType.L3));
    }

    [Test]
    public void AReadOnlyLinearSelfMappingOfTheL4IsAllowedAndAWritableOneIsNot()
    {
        Assert.That(MmuUpdate((L4 << 12) + 300 * 8, (L4 << 12) | P | Rw), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(MmuUpdate((L4 << 12) + 300 * 8, (L4 << 12) | P), Is.Zero);
        // Upgrading it to writable through the fast path is not possible either.
        Assert.That(MmuUpdate((L4 << 12) + 300 * 8, (L4 << 12) | P | Rw), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void LinearReferencesBetweenL4sNeverChain()
    {
        ulong x = CloneL4(0), y = CloneL4(1);
        Assert.That(Mmuext(MmuextOp.PinL4Table, x), Is.Zero);
        Assert.That(Mmuext(MmuextOp.PinL4Table, y), Is.Zero);
        Assert.That(MmuUpdate((L4 << 12) + 300 * 8, (x << 12) | P), Is.Zero, "the boot L4 maps x linearly");
        Assert.That(MmuUpdate((x << 12) + 301 * 8, (y << 12) | P), Is.EqualTo(-XenErrno.EINVAL), "x is a linear target");
        Assert.That(MmuUpdate((y << 12) + 301 * 8, (L4 << 12) | P), Is.EqualTo(-XenErrno.EINVAL), "the boot L4 has linear entries");
        Assert.That(MmuUpdate((L4 << 12) + 300 * 8, 0), Is.Zero);
        Assert.That(MmuUpdate((x << 12) + 301 * 8, (y << 12) | P), Is.Zero, "free again once the first link is gone");
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void TheGuestSeesTheReadOnlyM2pAtMachToPhysVirtStart()
    {
        ulong mfn = Dom.P2m[5];
        ulong va = X86_64.MachToPhysVirtStart + mfn * 8;
        Assert.That(PageTableWalker.Translate(F.Memory, V.Registers.Cr3, va, write: false, user: true, fetch: false, out ulong ma), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(ma), Is.EqualTo(5UL));
        Assert.That(PageTableWalker.Translate(F.Memory, V.Registers.Cr3, va, write: true, user: true, fetch: false, out _), Is.Not.Zero,
            "the M2P is read-only");
    }

    [Test]
    public void MachphysUpdateChangesWhatTheGuestReadsFromTheM2p()
    {
        ulong mfn = Spare(Dom, 0);
        Assert.That(MmuUpdate(mfn << 12, 0x1234, MmuUpdateOp.MachphysUpdate), Is.Zero);
        Assert.That(F.Hv.Frames.MachineToPhys(mfn), Is.EqualTo(0x1234UL));
        PageTableWalker.Translate(F.Memory, V.Registers.Cr3, X86_64.MachToPhysVirtStart + mfn * 8, false, true, false, out ulong ma);
        Assert.That(F.Memory.ReadUInt64(ma), Is.EqualTo(0x1234UL));
    }

    [Test]
    public void MachphysUpdateOfAnotherDomainsFrameIsEINVAL()
    {
        ulong mfn = Spare(Peer, 0);
        ulong before = F.Hv.Frames.MachineToPhys(mfn);
        Assert.That(MmuUpdate(mfn << 12, 7, MmuUpdateOp.MachphysUpdate), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(F.Hv.Frames.MachineToPhys(mfn), Is.EqualTo(before));
    }

    [TestCase(3)]
    [TestCase(7)]
    public void AnUnknownCommandIsENOSYS(int cmd) => Assert.That(MmuUpdate(PteAddress(TargetVa), 0, cmd), Is.EqualTo(-XenErrno.ENOSYS));

    [Test]
    public void UpdatingAFrameTheCallerDoesNotOwnIsEINVAL()
    {
        ulong target = Spare(Peer, 0) << 12;
        Assert.That(MmuUpdate(target, 0xdead), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(F.Memory.ReadUInt64(target), Is.Zero);
    }

    [Test]
    public void UpdatingAnUntypedFrameIsAPlainWrite()
    {
        ulong target = (Spare(Dom, 0) << 12) + 16;
        Assert.That(MmuUpdate(target, 0xfeedface), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(target), Is.EqualTo(0xfeedfaceUL));
        Assert.That(Pages.TypeCountOf(Spare(Dom, 0)), Is.Zero);
    }

    [Test]
    public void PreserveAdKeepsTheAccessedAndDirtyBits()
    {
        ulong pte = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        ulong frame = Spare(Dom, 0);
        Assert.That(MmuUpdate(pte, (frame << 12) | P | Rw), Is.Zero);
        F.Memory.WriteUInt64(pte, F.Memory.ReadUInt64(pte) | A | D); // as the CPU's walk would
        Assert.That(MmuUpdate(pte, (frame << 12) | P | Rw, MmuUpdateOp.PtUpdatePreserveAd), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(pte) & (A | D), Is.EqualTo(A | D));
        Assert.That(MmuUpdate(pte, (frame << 12) | P | Rw), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(pte) & (A | D), Is.Zero);
    }

    [Test]
    public void ForeignDomainWithoutPrivilegeIsEPERM() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), 0, foreigndom: Peer.Id), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void NamingOneselfAsForeignDomainIsESRCH() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), 0, foreigndom: Dom.Id), Is.EqualTo(-XenErrno.ESRCH));

    [Test]
    public void AnUnknownForeignDomainIsESRCH() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), 0, foreigndom: 0x7000), Is.EqualTo(-XenErrno.ESRCH));

    [Test]
    public void AnUnknownPageTableOwnerIsESRCH() =>
        Assert.That(MmuUpdate(PteAddress(TargetVa), 0, foreigndom: DomId.Self | (0x7001u << 16)), Is.EqualTo(-XenErrno.ESRCH));

    [Test]
    public void DoneCountsTheRequestsCompletedBeforeTheFirstFailure()
    {
        ulong pte = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        for (int i = 0; i < 3; i++)
        {
            ulong val = i == 2 ? (Spare(Peer, 0) << 12) | P : (Spare(Dom, i) << 12) | P;
            Put64((ulong)i * 16, pte);
            Put64((ulong)i * 16 + 8, val);
        }
        Assert.That(CallL(Hypercall.MmuUpdate, Scratch, 3, Scratch + 0x800, DomId.Self), Is.EqualTo(-XenErrno.EBUSY));
        Assert.That(Get32(0x800), Is.EqualTo(2u));
    }

    [Test]
    public void AnUnreadableRequestIsEFAULT() =>
        Assert.That(CallL(Hypercall.MmuUpdate, 0x1000, 1, 0, DomId.Self), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void ARequestArrayInTheHypervisorRangeIsEFAULT() =>
        Assert.That(CallL(Hypercall.MmuUpdate, X86_64.HypervisorVirtStart, 1, 0, DomId.Self), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void ALongBatchIsContinuedByRestartingTheHypercall()
    {
        // 1500 identical updates of one PTE; the first entry stops after the budget and restarts the syscall.
        const int n = 1500;
        ulong pte = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        ulong val = (Spare(Dom, 0) << 12) | P;
        ulong array = Layout.VirtOf(Layout.KernelPfn + 2);
        for (int i = 0; i < n; i++)
        {
            Assert.That(GuestMemory.Write(V, array + (ulong)i * 16, pte), Is.True);
            Assert.That(GuestMemory.Write(V, array + (ulong)i * 16 + 8, val), Is.True);
        }
        var r = V.Registers;
        r.Rax = Hypercall.MmuUpdate; r.Rdi = array; r.Rsi = n; r.Rdx = Scratch + 0x800; r.R10 = DomId.Self;
        r.Rcx = 0x1000_0002; r.R11 = 0x202;
        F.Hv.Hypercalls.Dispatch(V);
        Assert.That(r.Rip, Is.EqualTo(0x1000_0000UL), "back onto the syscall");
        Assert.That(r.Rax, Is.EqualTo((ulong)Hypercall.MmuUpdate));
        Assert.That(r.Rsi, Is.EqualTo((ulong)(n - Continuation.Budget) | Continuation.MmuUpdatePreempted));
        Assert.That(r.Rdi, Is.EqualTo(array + Continuation.Budget * 16UL));
        Assert.That(Get32(0x800), Is.EqualTo((uint)Continuation.Budget));
        r.Rcx = 0x1000_0002;
        F.Hv.Hypercalls.Dispatch(V);
        Assert.That(r.Rax, Is.Zero);
        Assert.That(r.Rip, Is.EqualTo(0x1000_0002UL));
        Assert.That(Get32(0x800), Is.EqualTo((uint)n));
        Assert.That(Pages.RefCountOf(Spare(Dom, 0)), Is.EqualTo(1), "the same mapping, written 1500 times, holds one reference");
    }
}
