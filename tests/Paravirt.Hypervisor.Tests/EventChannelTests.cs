using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Hypervisor.Tests;

public class EventChannelTests
{
    private static ulong PendingWord(HypervisorFixture f, Domain d, int word) =>
        f.Memory.ReadUInt64((d.SharedInfoMfn << 12) + (ulong)SharedInfoLayout.EvtchnPending + (ulong)word * 8);

    [Test]
    public void PortsAreNumberedFromOne()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build();
        Assert.That(EventChannelTable.AllocUnbound(d, DomId.Self, 0, out var p), Is.Zero);
        Assert.That(p, Is.EqualTo(1));
    }

    [Test]
    public void SendOverAnInterdomainChannelSetsThePeersPendingSelectorAndUpcallBits()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        var (b, _) = f.Build();
        Assert.That(EventChannelTable.AllocUnbound(a, DomId.Self, b.Id, out var pa), Is.Zero);
        Assert.That(EventChannelTable.BindInterdomain(b, a.Id, pa, out var pb), Is.Zero);
        // Clear what the bind itself made pending in b.
        f.Memory.WriteUInt64((b.SharedInfoMfn << 12) + SharedInfoLayout.EvtchnPending, 0);
        Assert.That(EventChannelTable.Send(b, pb), Is.Zero);
        Assert.That(PendingWord(f, a, 0) & (1UL << (int)pa), Is.Not.Zero);
        var info = f.Memory.FrameForRead(a.SharedInfoMfn);
        Assert.That(info[SharedInfoLayout.VcpuUpcallPending], Is.EqualTo(1));
        Assert.That(info[SharedInfoLayout.VcpuPendingSel] & 1, Is.EqualTo(1));
    }

    [Test]
    public void AMaskedPortBecomesPendingWithoutAnUpcall()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        EventChannelTable.AllocUnbound(a, DomId.Self, 0, out var pa);
        EventChannelTable.BindInterdomain(f.Hv.Dom0, a.Id, pa, out var p0);
        f.Memory.WriteUInt64((a.SharedInfoMfn << 12) + SharedInfoLayout.EvtchnMask, 1UL << (int)pa);
        EventChannelTable.Send(f.Hv.Dom0, p0);
        Assert.That(PendingWord(f, a, 0) & (1UL << (int)pa), Is.Not.Zero);
        Assert.That(f.Memory.FrameForRead(a.SharedInfoMfn)[SharedInfoLayout.VcpuUpcallPending], Is.Zero);
    }

    [Test]
    public void AManagedDomainsHandlerRunsWhenAGuestSends()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        EventChannelTable.AllocUnbound(a, DomId.Self, 0, out var pa);
        EventChannelTable.BindInterdomain(f.Hv.Dom0, a.Id, pa, out var p0);
        int calls = 0;
        f.Hv.Dom0.EventChannels.SetHandler(p0, () => calls++);
        Assert.That(EventChannelTable.Send(a, pa), Is.Zero);
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void BindingAPortMeantForSomeoneElseIsInvalid()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        var (b, _) = f.Build();
        EventChannelTable.AllocUnbound(a, DomId.Self, 0, out var pa);
        Assert.That(EventChannelTable.BindInterdomain(b, a.Id, pa, out _), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void AnUnprivilegedDomainCannotAllocateInAnotherDomain()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        var (b, _) = f.Build();
        Assert.That(EventChannelTable.AllocUnbound(a, b.Id, 0, out _), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(EventChannelTable.AllocUnbound(f.Hv.Dom0, b.Id, 0, out _), Is.Zero);
    }

    [TestCase(0u)]
    [TestCase(5u)]
    [TestCase(uint.MaxValue)]
    public void SendOnAPortThatIsNotOpenIsInvalid(uint port)
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        Assert.That(EventChannelTable.Send(a, port), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void ClosingOneEndLeavesThePeerUnbound()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        EventChannelTable.AllocUnbound(a, DomId.Self, 0, out var pa);
        EventChannelTable.BindInterdomain(f.Hv.Dom0, a.Id, pa, out var p0);
        Assert.That(EventChannelTable.Close(f.Hv.Dom0, p0), Is.Zero);
        Assert.That(a.EventChannels.StateOf(pa), Is.EqualTo(EventChannelState.Unbound));
        Assert.That(EventChannelTable.Send(a, pa), Is.Zero);
    }

    [Test]
    public void DestroyingADomainClosesItsChannelsOnThePeer()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        EventChannelTable.AllocUnbound(a, DomId.Self, 0, out var pa);
        EventChannelTable.BindInterdomain(f.Hv.Dom0, a.Id, pa, out var p0);
        f.Hv.DestroyDomain(a);
        Assert.That(f.Hv.Dom0.EventChannels.StateOf(p0), Is.EqualTo(EventChannelState.Unbound));
        Assert.That(EventChannelTable.Send(f.Hv.Dom0, p0), Is.Zero);
    }

    [Test]
    public void PortsRunOutWithENOSPC()
    {
        using var f = new HypervisorFixture();
        var (a, _) = f.Build();
        a.EventChannels.MaxPorts = 4;
        for (int i = 0; i < 3; i++) Assert.That(EventChannelTable.AllocUnbound(a, DomId.Self, 0, out _), Is.Zero);
        Assert.That(EventChannelTable.AllocUnbound(a, DomId.Self, 0, out _), Is.EqualTo(-XenErrno.ENOSPC));
    }
}
