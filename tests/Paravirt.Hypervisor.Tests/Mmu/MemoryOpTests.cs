using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>HYPERVISOR_memory_op: reservations, populate_physmap, the M2P queries, the memory map, add_to_physmap.</summary>
internal class MemoryOpTests : MmuTestBase
{
    private long Mem(ulong cmd, ulong arg) => CallL(Hypercall.MemoryOp, cmd, arg);

    /// <summary>xen_memory_reservation at Scratch+0x400, extent list at Scratch+0x500.</summary>
    private long Reservation(int op, ulong nr, uint order = 0, ushort domid = DomId.Self, bool list = true, uint memFlags = 0)
    {
        Put64(0x400, list ? Scratch + 0x500 : 0);
        Put64(0x408, nr);
        Put64(0x410, order | ((ulong)memFlags << 32));
        Put64(0x418, domid);
        return Mem((ulong)op, Scratch + 0x400);
    }

    [Test]
    public void CurrentAndMaximumReservationAreInPages()
    {
        Put64(0, DomId.Self);
        Assert.That(Mem(MemoryOp.CurrentReservation, Scratch), Is.EqualTo(8192));
        Assert.That(Mem(MemoryOp.MaximumReservation, Scratch), Is.EqualTo(8192));
    }

    [Test]
    public void ReservationOfAnotherDomainIsEPERMAndOfNoDomainESRCH()
    {
        Put64(0, Peer.Id);
        Assert.That(Mem(MemoryOp.CurrentReservation, Scratch), Is.EqualTo(-XenErrno.EPERM));
        Put64(0, 0x7000);
        Assert.That(Mem(MemoryOp.MaximumReservation, Scratch), Is.EqualTo(-XenErrno.ESRCH));
        Assert.That(Mem(MemoryOp.CurrentReservation, 0x1000), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(Mem(MemoryOp.CurrentReservation | (1 << 6), Scratch), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void MaximumRamPageIsTheMachineSize()
    {
        Assert.That(Mem(MemoryOp.MaximumRamPage, 0), Is.EqualTo((long)F.Memory.FrameCount));
        Assert.That(Mem(MemoryOp.MaximumRamPage | (3 << 6), 0), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void DecreaseGivesFramesBackAndIncreaseTakesThemAgain()
    {
        ulong free = F.Hv.Frames.FreeFrames;
        Put64(0x500, Spare(Dom, 0));
        Put64(0x508, Spare(Dom, 1));
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 2), Is.EqualTo(2));
        Assert.That(F.Hv.Frames.FreeFrames, Is.EqualTo(free + 2));
        Assert.That(Dom.TotalPages, Is.EqualTo(8190UL));
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 3), Is.EqualTo(2), "max_pages stops the third");
        Assert.That(Dom.TotalPages, Is.EqualTo(8192UL));
        ulong got = Get64(0x500);
        Assert.That(F.Hv.Frames.OwnerOf(got), Is.EqualTo(Dom.Id));
    }

    [Test]
    public void DecreaseStopsAtAFrameThatIsNotOrdinaryOwnMemory()
    {
        Put64(0x500, Spare(Dom, 0));
        Put64(0x508, Spare(Peer, 0));
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 2), Is.EqualTo(1));
        Put64(0x500, Dom.SharedInfoMfn);
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 1), Is.Zero);
        Put64(0x500, L4);
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 1), Is.Zero, "a page table in use stays");
        Assert.That(F.Hv.Frames.OwnerOf(Spare(Peer, 0)), Is.EqualTo(Peer.Id));
    }

    [Test]
    public void PopulatePhysmapReturnsFramesAndRecordsTheirPfnInTheM2p()
    {
        Put64(0x500, Spare(Dom, 0));
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 1), Is.EqualTo(1));
        Put64(0x500, 0x9999);
        Assert.That(Reservation(MemoryOp.PopulatePhysmap, 1), Is.EqualTo(1));
        ulong mfn = Get64(0x500);
        Assert.That(F.Hv.Frames.OwnerOf(mfn), Is.EqualTo(Dom.Id));
        Assert.That(F.Hv.Frames.MachineToPhys(mfn), Is.EqualTo(0x9999UL));
    }

    [Test]
    public void ReservationFailuresReportHowFarTheyGot()
    {
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, order: 10), Is.Zero, "order above max_order");
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, domid: Peer.Id), Is.Zero, "another domain");
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, domid: 0x7000), Is.Zero, "no such domain");
        Assert.That(Mem(MemoryOp.IncreaseReservation, 0x1000), Is.Zero, "unreadable struct: start_extent");
        Assert.That(Mem(MemoryOp.IncreaseReservation | (5 << 6), Scratch + 0x400), Is.EqualTo(5), "start beyond nr_extents");
    }

    [Test]
    public void AnExactNodeRequestFromADomUDoesNothing()
    {
        Put64(0x500, Spare(Dom, 0));
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 1), Is.EqualTo(1));
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, memFlags: (1u << 8) | MemoryOp.MemfExactNodeRequest), Is.Zero);
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, memFlags: 1u << 8), Is.EqualTo(1), "a node as a hint is fine");
    }

    /// <summary>Give back 2^order frames first (the domain is at max_pages), then ask for an extent of that order.</summary>
    private void MakeRoom(int frames)
    {
        for (int i = 0; i < frames; i++) Put64(0x500 + (ulong)i * 8, Spare(Dom, i));
        Assert.That(Reservation(MemoryOp.DecreaseReservation, (ulong)frames), Is.EqualTo(frames));
    }

    [Test]
    public void AnExtentOfOrderFourIsSixteenContiguousAlignedFrames()
    {
        MakeRoom(16);
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, order: 4), Is.EqualTo(1));
        ulong first = Get64(0x500);
        Assert.That(first % 16, Is.Zero, "naturally aligned");
        for (ulong j = 0; j < 16; j++) Assert.That(F.Hv.Frames.OwnerOf(first + j), Is.EqualTo(Dom.Id));
        Assert.That(Dom.TotalPages, Is.EqualTo(8192UL));
        Put64(0x500, first);
        Assert.That(Reservation(MemoryOp.DecreaseReservation, 1, order: 4), Is.EqualTo(1), "and it goes back whole");
        for (ulong j = 0; j < 16; j++) Assert.That(F.Hv.Frames.OwnerOf(first + j), Is.Not.EqualTo(Dom.Id));
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void PopulatePhysmapOfOrderTwoFillsTheM2pForEachFrame()
    {
        MakeRoom(4);
        Put64(0x500, 0x8000);
        Assert.That(Reservation(MemoryOp.PopulatePhysmap, 1, order: 2), Is.EqualTo(1));
        ulong first = Get64(0x500);
        for (ulong j = 0; j < 4; j++) Assert.That(F.Hv.Frames.MachineToPhys(first + j), Is.EqualTo(0x8000 + j));
    }

    [Test]
    public void AnExtentLargerThanTheRoomLeftIsRefused()
    {
        MakeRoom(3);
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, order: 2), Is.Zero, "4 frames would pass max_pages");
        Assert.That(Dom.TotalPages, Is.EqualTo(8189UL));
    }

    [Test]
    public void AddressBitsKeepExtentsBelowTheLimit()
    {
        MakeRoom(2);
        // 2^24 bytes: frames below 4096.
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, memFlags: 24), Is.EqualTo(1));
        Assert.That(Get64(0x500), Is.LessThan(4096UL));
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, memFlags: 12), Is.Zero, "a limit of one page is refused");
        Assert.That(Reservation(MemoryOp.IncreaseReservation, 1, memFlags: 64), Is.EqualTo(1), "a limit above RAM is no limit");
    }

    [Test]
    public void PopulateOnDemandIsNotForPvDomains()
    {
        MakeRoom(1);
        Put64(0x500, 0x8000);
        Assert.That(Reservation(MemoryOp.PopulatePhysmap, 1, memFlags: MemoryOp.MemfPopulateOnDemand), Is.Zero);
        Assert.That(Dom.TotalPages, Is.EqualTo(8191UL));
    }

    [Test]
    public void MachphysMappingDescribesTheReadOnlyM2p()
    {
        Assert.That(Mem(MemoryOp.MachphysMapping, Scratch), Is.Zero);
        Assert.That(Get64(0), Is.EqualTo(X86_64.MachToPhysVirtStart));
        Assert.That(Get64(8), Is.EqualTo(X86_64.MachToPhysVirtEnd));
        Assert.That(Get64(16), Is.EqualTo(((X86_64.MachToPhysVirtEnd - X86_64.MachToPhysVirtStart) >> 3) - 1));
        Assert.That(Mem(MemoryOp.MachphysMapping, 0x1000), Is.EqualTo(-XenErrno.EFAULT));
    }

    [Test]
    public void MachphysMfnListListsTheM2pExtents()
    {
        Put64(0, 4);
        Put64(8, Scratch + 0x40);
        Assert.That(Mem(MemoryOp.MachphysMfnList, Scratch), Is.Zero);
        Assert.That(Get32(16), Is.EqualTo((uint)Mmu.M2p.ExtentCount));
        Assert.That(Get64(0x40), Is.EqualTo(Mmu.M2p.DataFrames[0]));
    }

    [Test]
    public void MemoryMapIsENOSYSUntilOneIsSetThenReturned()
    {
        Put64(0, 8);
        Put64(8, Scratch + 0x40);
        Assert.That(Mem(MemoryOp.MemoryMap, Scratch), Is.EqualTo(-XenErrno.ENOSYS));
        // XENMEM_set_memory_map for itself: { domid; { nr_entries; buffer } }
        Put64(0x600, DomId.Self);
        Put64(0x608, 1);
        Put64(0x610, Scratch + 0x700);
        Put64(0x700, 0);
        Put64(0x708, 8192UL << 12);
        Put64(0x710, E820Entry.Ram);
        Assert.That(Mem(MemoryOp.SetMemoryMap, Scratch + 0x600), Is.Zero);
        Assert.That(Mem(MemoryOp.MemoryMap, Scratch), Is.Zero);
        Assert.That(Get32(0), Is.EqualTo(1u));
        Assert.That(Get64(0x48), Is.EqualTo(8192UL << 12));
        Assert.That(Get32(0x50), Is.EqualTo(E820Entry.Ram));
    }

    [Test]
    public void SetMemoryMapChecksSizeAndRights()
    {
        Put64(0x600, DomId.Self);
        Put64(0x608, MemoryOp.E820Max + 1);
        Assert.That(Mem(MemoryOp.SetMemoryMap, Scratch + 0x600), Is.EqualTo(-XenErrno.EINVAL));
        Put64(0x600, Peer.Id);
        Put64(0x608, 0);
        Assert.That(Mem(MemoryOp.SetMemoryMap, Scratch + 0x600), Is.EqualTo(-XenErrno.EPERM));
    }

    [Test]
    public void AddToPhysmapIsEACCESForAPvDomain()
    {
        Put64(0, DomId.Self | ((ulong)MemoryOp.MapSpaceGrantTable << 32));
        Put64(8, 0);
        Put64(16, 0x100);
        Assert.That(Mem(MemoryOp.AddToPhysmap, Scratch), Is.EqualTo(-XenErrno.EACCES));
        Put64(0, DomId.Self | ((ulong)MemoryOp.MapSpaceGmfnForeign << 32));
        Assert.That(Mem(MemoryOp.AddToPhysmap, Scratch), Is.EqualTo(-XenErrno.ENOSYS));
        Put64(0, 0x7000);
        Assert.That(Mem(MemoryOp.AddToPhysmap, Scratch), Is.EqualTo(-XenErrno.ESRCH));
        Assert.That(Mem(MemoryOp.AddToPhysmap | (0x10000UL << 6), Scratch), Is.EqualTo(-XenErrno.EDOM));
        Assert.That(Mem(MemoryOp.AddToPhysmap, 0x1000), Is.EqualTo(-XenErrno.EFAULT));
    }

    [Test]
    public void ALongDecreaseIsContinuedWithTheExtentInTheCommand()
    {
        const int n = 1100;
        ulong list = Layout.VirtOf(Layout.KernelPfn + 2);
        for (int i = 0; i < n; i++) Assert.That(GuestMemory.Write(V, list + (ulong)i * 8, Spare(Dom, i)), Is.True);
        Put64(0x400, list);
        Put64(0x408, n);
        Put64(0x410, 0);
        Put64(0x418, DomId.Self);
        var r = V.Registers;
        r.Rax = Hypercall.MemoryOp; r.Rdi = MemoryOp.DecreaseReservation; r.Rsi = Scratch + 0x400;
        r.Rcx = 0x2000_0002; r.R11 = 0x202;
        F.Hv.Hypercalls.Dispatch(V);
        Assert.That(r.Rip, Is.EqualTo(0x2000_0000UL));
        Assert.That(r.Rdi, Is.EqualTo(MemoryOp.DecreaseReservation | ((ulong)Continuation.Budget << Continuation.MemopExtentShift)));
        r.Rcx = 0x2000_0002;
        F.Hv.Hypercalls.Dispatch(V);
        Assert.That(r.Rax, Is.EqualTo((ulong)n));
        Assert.That(Dom.TotalPages, Is.EqualTo(8192UL - n));
    }

    [TestCase(8UL)]
    [TestCase(63UL)]
    public void AnUnknownOperationIsENOSYS(ulong op) => Assert.That(Mem(op, Scratch), Is.EqualTo(-XenErrno.ENOSYS));
}
