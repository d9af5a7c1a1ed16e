using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>Two domains: what one guest tries against the MMU neither succeeds nor touches the other.</summary>
internal class IsolationTests : MmuTestBase
{
    private void AssertPeerUntouched(Action attack)
    {
        ulong before = Fingerprint(Peer);
        var peerPages = Peer.P2m.Select(m => (Pages.RefCountOf(m), Pages.TypeCountOf(m), Pages.TypeOf(m))).ToArray();
        attack();
        Assert.That(Fingerprint(Peer), Is.EqualTo(before), "the peer's memory changed");
        Assert.That(Peer.P2m.Select(m => (Pages.RefCountOf(m), Pages.TypeCountOf(m), Pages.TypeOf(m))).ToArray(), Is.EqualTo(peerPages),
            "the peer's page types changed");
        Assert.That(Peer.IsShutdown, Is.False);
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void MappingAFrameItDoesNotOwnFails() => AssertPeerUntouched(() =>
    {
        foreach (var mfn in Peer.P2m.Take(64))
            Assert.That(MmuUpdate(PteAddress(Scratch + 0x1000), (mfn << 12) | P | Rw), Is.EqualTo(-XenErrno.EBUSY));
        Assert.That(CallL(Hypercall.UpdateVaMapping, Scratch + 0x1000, (Peer.P2m[0] << 12) | P, 0), Is.EqualTo(-XenErrno.EBUSY));
    });

    [Test]
    public void MappingItsOwnPageTableWritableFails() => AssertPeerUntouched(() =>
    {
        foreach (var pfn in Enumerable.Range((int)Layout.PageTablePfn, (int)Layout.PageTableCount))
            Assert.That(MmuUpdate(PteAddress(Scratch + 0x1000), (Dom.P2m[pfn] << 12) | P | Rw), Is.EqualTo(-XenErrno.EBUSY));
    });

    [Test]
    public void LoadingABadL4Fails() => AssertPeerUntouched(() =>
    {
        ulong l4 = CloneL4(0);
        Write(l4, 3, (Peer.P2m[Peer.P2m.Length - 1] << 12) | P | Rw);
        Assert.That(Mmuext(MmuextOp.NewBaseptr, l4), Is.EqualTo(-XenErrno.EINVAL));
        ulong l3 = MakeTable(1, (0, (Peer.P2m[0] << 12) | P | Rw));
        Write(l4, 3, (l3 << 12) | P | Rw);
        Assert.That(Mmuext(MmuextOp.NewBaseptr, l4), Is.EqualTo(-XenErrno.EINVAL));
        // The peer's live L4 as ours: not our frame.
        Assert.That(Mmuext(MmuextOp.NewBaseptr, Peer.Vcpus[0].GuestTableMfn), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(V.Registers.Cr3, Is.EqualTo(L4 << 12));
    });

    [Test]
    public void WritingTheHypervisorL4SlotsFails() => AssertPeerUntouched(() =>
    {
        for (int slot = 256; slot <= 271; slot++)
            Assert.That(MmuUpdate((L4 << 12) + (ulong)slot * 8, (Spare(Dom, 0) << 12) | P), Is.EqualTo(-XenErrno.EINVAL));
    });

    [Test]
    public void WritingAnotherDomainsPageTablesFails() => AssertPeerUntouched(() =>
    {
        ulong peerL4 = Peer.Vcpus[0].GuestTableMfn;
        Assert.That(MmuUpdate(peerL4 << 12, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(MmuUpdate(peerL4 << 12, 0, foreigndom: DomId.Self | ((uint)(Peer.Id + 1) << 16)), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(Mmuext(MmuextOp.UnpinTable, peerL4), Is.EqualTo(-XenErrno.EINVAL));
    });

    [Test]
    public void DestroyingADomainReturnsEveryFrame()
    {
        ulong free = F.Hv.Frames.FreeFrames;
        ulong l1 = MakeTable(0, (0, (Spare(Dom, 1) << 12) | P | Rw));
        Assert.That(Mmuext(MmuextOp.PinL1Table, l1), Is.Zero);
        F.Hv.DestroyDomain(Dom);
        Assert.That(F.Hv.Frames.FreeFrames, Is.EqualTo(free + 8192 + 1));
        PageTypeInvariants.Check(F.Hv, [Peer]);
    }
}
