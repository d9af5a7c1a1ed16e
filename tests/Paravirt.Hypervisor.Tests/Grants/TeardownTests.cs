using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;
using Paravirt.Hypervisor.Tests.Mmu;

namespace Paravirt.Hypervisor.Tests.Grants;

/// <summary>
/// Destroying either side of a live grant host mapping (GNTMAP_host_map in a PV guest's page tables): the survivor
/// gets clean GNTST_* statuses, the frame stays allocated exactly as long as a PTE maps it, and nothing dangles.
/// </summary>
internal class TeardownTests : MmuTestBase
{
    private ulong HostVa => Layout.VirtOf(Layout.StartInfoPfn);
    // Remembered at set-up: a destroyed domain has no p2m or grant frames to ask.
    private ulong Granted, GrantEntry;

    [SetUp]
    public void GrantAPageToDom()
    {
        // Peer (the granter) grants one of its frames to Dom (the grantee, whose vCPU makes the hypercalls).
        GrantTable.SetupTable(Peer, DomId.Self, 1, new ulong[1]);
        Granted = Spare(Peer, 0);
        GrantEntry = Peer.Grants.Frames[0] << 12;
        F.Memory.WriteUInt64(GrantEntry, GrantFlags.PermitAccess | ((ulong)Dom.Id << 16) | (Granted << 32));
        F.Memory.WriteUInt64((Granted << 12) + 16, 0x5a5a5a5a);
    }

    private (short Status, uint Handle) Map(uint flags = GrantMapFlags.HostMap)
    {
        Put64(0x200, HostVa);
        Put64(0x208, flags);            // flags, ref 0
        Put64(0x210, Peer.Id);
        Put64(0x218, 0);
        Assert.That(CallL(Hypercall.GrantTableOp, GrantTableOp.MapGrantRef, Scratch + 0x200, 1), Is.Zero);
        return ((short)Get32(0x212), Get32(0x214));
    }

    private short Unmap(uint handle)
    {
        Put64(0x300, HostVa);
        Put64(0x308, 0);
        Put64(0x310, handle);
        Assert.That(CallL(Hypercall.GrantTableOp, GrantTableOp.UnmapGrantRef, Scratch + 0x300, 1), Is.Zero);
        return (short)Get32(0x314);
    }

    private ulong MappedFrame() => (F.Memory.ReadUInt64(PteAddress(HostVa)) & PvMmu.AddressMask) >> 12;

    [Test]
    public void DestroyingTheGranterKeepsTheGranteesMappingOnTheSameFrameUntilItUnmaps()
    {
        var (st, handle) = Map();
        Assert.That(st, Is.EqualTo(GrantStatus.Okay));
        F.Hv.DestroyDomain(Peer);

        // The granter's frames went back to the pool, except the one the grantee's PTE still maps.
        Assert.That(MappedFrame(), Is.EqualTo(Granted), "the grantee's PTE still names the granted frame");
        Assert.That(F.Hv.Frames.OwnerOf(Granted), Is.Not.EqualTo(FrameTable.Free), "a mapped frame is never handed out again");
        Assert.That(Paravirt.Cpu.PageTableWalker.Translate(F.Memory, V.Registers.Cr3, HostVa + 16, true, true, false, out ulong ma), Is.Zero);
        Assert.That(F.Memory.ReadUInt64(ma), Is.EqualTo(0x5a5a5a5aUL), "the grantee still reads the page's last contents");

        // Unmapping works and frees the frame: nothing is left referenced.
        ulong freeAfterDestroy = F.Hv.Frames.FreeFrames;
        Assert.That(Unmap(handle), Is.EqualTo(GrantStatus.Okay));
        Assert.That(F.Memory.ReadUInt64(PteAddress(HostVa)), Is.Zero);
        Assert.That(Dom.Grants.ActiveMappings, Is.Zero);
        Assert.That(Pages.RefCountOf(Granted), Is.Zero);
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero);
        Assert.That(F.Hv.Frames.OwnerOf(Granted), Is.EqualTo(FrameTable.Free));
        Assert.That(F.Hv.Frames.FreeFrames, Is.EqualTo(freeAfterDestroy + 1));
        PageTypeInvariants.Check(F.Hv, [Dom]);
    }

    [Test]
    public void AfterTheGranterDiesNewMapsAreBadDomainAndASecondUnmapIsBadHandle()
    {
        var (_, handle) = Map();
        ushort granter = Peer.Id;
        F.Hv.DestroyDomain(Peer);

        var (st, _) = Map();
        Assert.That(st, Is.EqualTo(GrantStatus.BadDomain));
        Assert.That(Unmap(handle), Is.EqualTo(GrantStatus.Okay));
        Assert.That(Unmap(handle), Is.EqualTo(GrantStatus.BadHandle));
        Assert.That(GrantTable.Copy(Dom, new GrantCopyPointer(0, granter, 0), new GrantCopyPointer(Spare(Dom, 0), DomId.Self, 0), 8,
            GrantCopyFlags.SourceGref), Is.EqualTo(GrantStatus.BadDomain));
    }

    [Test]
    public void DestroyingTheGranteeClearsTheGrantsInUseFlagsSoTheGranterCanRevoke()
    {
        Map();
        Assert.That(F.Memory.ReadUInt64(GrantEntry) & (GrantFlags.Reading | GrantFlags.Writing),
            Is.EqualTo((ulong)(GrantFlags.Reading | GrantFlags.Writing)));
        ulong freeBefore = F.Hv.Frames.FreeFrames;

        F.Hv.DestroyDomain(Dom);

        Assert.That(F.Memory.ReadUInt64(GrantEntry) & (GrantFlags.Reading | GrantFlags.Writing), Is.Zero,
            "gnttab_end_foreign_access in the granter succeeds now");
        Assert.That(Pages.RefCountOf(Granted), Is.Zero);
        Assert.That(Pages.TypeCountOf(Granted), Is.Zero);
        Assert.That(F.Hv.Frames.OwnerOf(Granted), Is.EqualTo(Peer.Id), "the granter keeps its frame");
        Assert.That(F.Hv.Frames.FreeFrames, Is.GreaterThan(freeBefore), "the grantee's own frames went back to the pool");
        // The granter can hand the same grant to a new mapper afterwards: nothing of the old one lingers.
        Assert.That(GrantTable.Map(F.Hv.Dom0, Peer.Id, 0, GrantMapFlags.HostMap, 0, out uint h, out _), Is.EqualTo(GrantStatus.GeneralError),
            "the grant names the dead domain, not Domain-0");
        Assert.That(h, Is.Zero);
        PageTypeInvariants.Check(F.Hv, [Peer]);
    }

    [Test]
    public void AMappingOfADeadGranteeCannotBeUnmappedAgain()
    {
        var (_, handle) = Map();
        F.Hv.DestroyDomain(Dom);
        Assert.That(GrantTable.Unmap(Dom, handle, HostVa, 0), Is.EqualTo(GrantStatus.BadHandle));
        Assert.That(F.Memory.ReadUInt64(GrantEntry) & (GrantFlags.Reading | GrantFlags.Writing), Is.Zero);
    }
}
