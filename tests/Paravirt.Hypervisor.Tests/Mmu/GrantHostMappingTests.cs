using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>GNTTABOP_map_grant_ref with GNTMAP_host_map for a PV guest: the PTE at host_addr (create_grant_host_mapping).</summary>
internal class GrantHostMappingTests : MmuTestBase
{
    private ulong HostVa => Layout.VirtOf(Layout.StartInfoPfn);
    private ulong Granted => Spare(Peer, 0);

    [SetUp]
    public void Grant()
    {
        GrantTable.SetupTable(Peer, DomId.Self, 1, new ulong[1]);
        F.Memory.WriteUInt64(Peer.Grants.Frames[0] << 12, GrantFlags.PermitAccess | ((ulong)Dom.Id << 16) | (Granted << 32));
        F.Memory.WriteUInt64((Peer.Grants.Frames[0] << 12) + 8, GrantFlags.PermitAccess | GrantFlags.Readonly | ((ulong)Dom.Id << 16) | (Granted << 32));
        F.Memory.WriteUInt64((Granted << 12) + 16, 0x5a5a5a5a);
    }

    private (short Status, uint Handle) Map(ulong hostAddr, uint flags, uint gref = 0)
    {
        Put64(0x200, hostAddr);
        Put64(0x208, flags | ((ulong)gref << 32));
        Put64(0x210, Peer.Id);
        Put64(0x218, 0);
        Assert.That(CallL(Hypercall.GrantTableOp, GrantTableOp.MapGrantRef, Scratch + 0x200, 1), Is.Zero);
        return ((short)Get32(0x212), Get32(0x214));
    }

    private short Unmap(ulong hostAddr, uint handle)
    {
        Put64(0x300, hostAddr);
        Put64(0x308, 0);
        Put64(0x310, handle);
        Assert.That(CallL(Hypercall.GrantTableOp, GrantTableOp.UnmapGrantRef, Scratch + 0x300, 1), Is.Zero);
        return (short)Get32(0x314);
    }

    [Test]
    public void AHostMappingShowsTheGrantedFrameAtHostAddr()
    {
        var (st, _) = Map(HostVa, GrantMapFlags.HostMap);
        Assert.That(st, Is.EqualTo(GrantStatus.Okay));
        Assert.That(Paravirt.Cpu.PageTableWalker.Translate(F.Memory, V.Registers.Cr3, HostVa + 16, true, true, false, out ulong ma), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(ma), Is.EqualTo(0x5a5a5a5aUL), "the guest reads the granted bytes at host_addr");
        Assert.That((F.Memory.ReadUInt64(PteAddress(HostVa)) & PvMmu.AddressMask) >> 12, Is.EqualTo(Granted));
        Assert.That(Pages.TypeOf(Granted), Is.EqualTo(PageType.Writable));
        Assert.That(F.Memory.ReadUInt64(PteAddress(HostVa)) & (P | Rw), Is.EqualTo(P | Rw));
        PageTypeInvariants.Check(F.Hv, [Dom, Peer], [Granted]);
    }

    [Test]
    public void AReadOnlyHostMappingHasNoWritableBit()
    {
        var (st, _) = Map(HostVa, GrantMapFlags.HostMap | GrantMapFlags.Readonly, gref: 1);
        Assert.That(st, Is.EqualTo(GrantStatus.Okay));
        Assert.That(F.Memory.ReadUInt64(PteAddress(HostVa)) & Rw, Is.Zero);
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero);
    }

    [Test]
    public void UnmappingClearsThePteAndDropsTheReferences()
    {
        var (_, handle) = Map(HostVa, GrantMapFlags.HostMap);
        Assert.That(Unmap(HostVa, handle), Is.EqualTo(GrantStatus.Okay));
        Assert.That(F.Memory.ReadUInt64(PteAddress(HostVa)), Is.Zero);
        Assert.That(Pages.RefCountOf(Granted), Is.Zero);
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero);
        Assert.That(Dom.Grants.ActiveMappings, Is.Zero);
    }

    [Test]
    public void UnmappingAtAnAddressThatNoLongerMapsTheFrameFailsAndKeepsTheGrant()
    {
        var (_, handle) = Map(HostVa, GrantMapFlags.HostMap);
        Assert.That(Unmap(Scratch, handle), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(Dom.Grants.ActiveMappings, Is.EqualTo(1));
    }

    [Test]
    public void AHostAddrWithoutAnL1IsAGeneralError()
    {
        var (st, _) = Map(0x1000, GrantMapFlags.HostMap);
        Assert.That(st, Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(Dom.Grants.ActiveMappings, Is.Zero);
        Assert.That(Pages.RefCountOf(Granted), Is.Zero);
    }

    [Test]
    public void TheGranterCannotTurnAWritablyMappedGrantIntoAPageTable()
    {
        Map(HostVa, GrantMapFlags.HostMap);
        Assert.That(F.Hv.Mmu.Pin(Peer, PageType.L1, Granted), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void DestroyingTheGranteeDropsItsReferencesOnTheGrantedFrame()
    {
        Map(HostVa, GrantMapFlags.HostMap);
        F.Hv.DestroyDomain(Dom);
        Assert.That(Pages.RefCountOf(Granted), Is.Zero);
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero);
        PageTypeInvariants.Check(F.Hv, [Peer]);
    }

    // ---- GNTMAP_contains_pte: host_addr is the machine address of the PTE ----

    [Test]
    public void AContainsPteMappingWritesThePteAtThatMachineAddressWithItsAvailBits()
    {
        ulong pte = PteAddress(HostVa);
        var (st, handle) = Map(pte, GrantMapFlags.HostMap | GrantMapFlags.ContainsPte | (5u << GrantMapFlags.GuestAvail0));
        Assert.That(st, Is.EqualTo(GrantStatus.Okay));
        ulong e = F.Memory.ReadUInt64(pte);
        Assert.That((e & PvMmu.AddressMask) >> 12, Is.EqualTo(Granted));
        Assert.That(e & (P | Rw), Is.EqualTo(P | Rw));
        Assert.That((e >> 9) & 7, Is.EqualTo(5UL), "GNTMAP_guest_avail bits in the PTE's AVAIL bits");
        Assert.That(Paravirt.Cpu.PageTableWalker.Translate(F.Memory, V.Registers.Cr3, HostVa + 16, false, true, false, out ulong ma), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(ma), Is.EqualTo(0x5a5a5a5aUL));
        PageTypeInvariants.Check(F.Hv, [Dom, Peer], [Granted]);
        Assert.That(Unmap(pte + 8, handle), Is.EqualTo(GrantStatus.GeneralError), "a PTE that does not map the frame");
        Assert.That(Unmap(pte, handle), Is.EqualTo(GrantStatus.Okay));
        Assert.That(F.Memory.ReadUInt64(pte), Is.Zero);
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero);
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void AContainsPteMappingNeedsAnAlignedEntryOfItsOwnL1()
    {
        ulong pte = PteAddress(HostVa);
        uint flags = GrantMapFlags.HostMap | GrantMapFlags.ContainsPte;
        Assert.That(Map(pte + 4, flags).Status, Is.EqualTo(GrantStatus.GeneralError), "unaligned");
        Assert.That(Map((L4 << 12) + 8, flags).Status, Is.EqualTo(GrantStatus.GeneralError), "an L4, not an L1");
        Assert.That(Map(Spare(Dom, 3) << 12, flags).Status, Is.EqualTo(GrantStatus.GeneralError), "plain memory");
        Assert.That(Map(Peer.Vcpus[0].GuestTableMfn << 12, flags).Status, Is.EqualTo(GrantStatus.GeneralError), "the peer's table");
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero, "nothing was left behind");
        Assert.That(Dom.Grants.ActiveMappings, Is.Zero, "no mapping handle was kept");
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }
}
