using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Tests.Events;

/// <summary>
/// Destroying one end of a live interdomain event channel (as Xen's domain_kill → evtchn_destroy → evtchn_close):
/// the survivor's port falls back to unbound (remote = the dead domain), sends on it are dropped, and every
/// operation naming the dead domain fails with -ESRCH — never a notification into freed memory.
/// </summary>
public class InterdomainTeardownTests
{
    private MachineMemory _memory = null!;
    private Hypervisor.Hypervisor _hv = null!;
    private Domain _a = null!, _b = null!;

    [SetUp]
    public void TwoGuests()
    {
        _memory = new MachineMemory(4096);
        _hv = new Hypervisor.Hypervisor(_memory, new EmulatedPlatform());
        _a = _hv.CreateDomain("a", Guid.NewGuid(), 256, 1);
        _b = _hv.CreateDomain("b", Guid.NewGuid(), 256, 1);
    }

    [TearDown]
    public void Dispose()
    {
        _hv.Dispose();
        _memory.Dispose();
    }

    private (uint A, uint B) Connect(Domain a, Domain b)
    {
        Assert.That(EventChannelTable.AllocUnbound(a, DomId.Self, b.Id, out uint pa), Is.Zero);
        Assert.That(EventChannelTable.BindInterdomain(b, a.Id, pa, out uint pb), Is.Zero);
        return (pa, pb);
    }

    private bool Pending(Domain d, uint port)
    {
        ulong word = _memory.ReadUInt64((d.SharedInfoMfn << 12) + (ulong)SharedInfoLayout.EvtchnPending + port / 64 * 8);
        return (word & (1UL << (int)(port % 64))) != 0;
    }

    [Test]
    public void DestroyingThePeerLeavesTheSurvivorsPortUnboundToTheDeadDomain()
    {
        var (pa, _) = Connect(_a, _b);
        ushort dead = _b.Id;
        _hv.DestroyDomain(_b);

        Assert.That(EventChannelTable.Status(_a, DomId.Self, pa, out var st), Is.Zero);
        Assert.That(st.State, Is.EqualTo(EventChannelState.Unbound));
        Assert.That(st.RemoteDomain, Is.EqualTo(dead));
        Assert.That(_a.EventChannels.OpenPorts, Is.EqualTo(1), "the survivor's port stays allocated until it closes it");
    }

    [Test]
    public void SendingToADeadPeerIsSilentlyDroppedAndClosingStillWorks()
    {
        var (pa, _) = Connect(_a, _b);
        _hv.DestroyDomain(_b);

        Assert.That(EventChannelTable.Send(_a, pa), Is.Zero, "a send on an unbound port is dropped, as Xen");
        Assert.That(Pending(_a, pa), Is.False, "nothing loops back to the sender");
        Assert.That(EventChannelTable.Close(_a, pa), Is.Zero);
        Assert.That(_a.EventChannels.StateOf(pa), Is.EqualTo(EventChannelState.Closed));
        Assert.That(EventChannelTable.Close(_a, pa), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void OperationsNamingTheDeadDomainAreNoSuchDomain()
    {
        var (pa, pb) = Connect(_a, _b);
        ushort dead = _b.Id;
        _hv.DestroyDomain(_b);

        Assert.That(EventChannelTable.BindInterdomain(_a, dead, pb, out _), Is.EqualTo(-XenErrno.ESRCH));
        Assert.That(EventChannelTable.Status(_hv.Dom0, dead, pb, out _), Is.EqualTo(-XenErrno.ESRCH));
        Assert.That(EventChannelTable.AllocUnbound(_hv.Dom0, dead, 0, out _), Is.EqualTo(-XenErrno.ESRCH));
        // The survivor's unbound port is not bindable by anyone but the dead domain.
        Assert.That(EventChannelTable.BindInterdomain(_hv.Dom0, _a.Id, pa, out _), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void DestroyingTheAllocatingSideLeavesTheBindersPortUnbound()
    {
        // Either side may die: here the side that allocated the port goes, and the binder is left unbound.
        var (pa, pb) = Connect(_a, _b);
        ushort dead = _a.Id;
        _hv.DestroyDomain(_a);

        Assert.That(EventChannelTable.Status(_b, DomId.Self, pb, out var st), Is.Zero);
        Assert.That(st.State, Is.EqualTo(EventChannelState.Unbound));
        Assert.That(st.RemoteDomain, Is.EqualTo(dead));
        Assert.That(EventChannelTable.Send(_b, pb), Is.Zero);
        Assert.That(EventChannelTable.BindInterdomain(_b, dead, pa, out _), Is.EqualTo(-XenErrno.ESRCH));
    }

    [Test]
    public void AManagedBackEndsHandlerIsNotCalledAfterTheGuestDies()
    {
        // Domain-0 (a back-end) allocates a port for the guest; the guest binds it; then the guest is destroyed.
        var dom0 = _hv.Dom0;
        Assert.That(EventChannelTable.AllocUnbound(dom0, DomId.Self, _a.Id, out uint backend), Is.Zero);
        int calls = 0;
        dom0.EventChannels.SetHandler(backend, () => Interlocked.Increment(ref calls));
        Assert.That(EventChannelTable.BindInterdomain(_a, 0, backend, out uint front), Is.Zero);
        Assert.That(EventChannelTable.Send(_a, front), Is.Zero);
        Assert.That(calls, Is.EqualTo(1));

        _hv.DestroyDomain(_a);
        Assert.That(dom0.EventChannels.StateOf(backend), Is.EqualTo(EventChannelState.Unbound));
        Assert.That(EventChannelTable.Send(dom0, backend), Is.Zero, "the back-end's notify after the front end died is dropped");
        Assert.That(calls, Is.EqualTo(1));
        Assert.That(EventChannelTable.Close(dom0, backend), Is.Zero);
    }

    [Test]
    public void ClosingAPendingPortClearsItSoTheNextBindingOfThatNumberStartsClean()
    {
        var (pa, pb) = Connect(_a, _b);
        Assert.That(EventChannelTable.Send(_a, pa), Is.Zero);
        Assert.That(Pending(_b, pb), Is.True);
        Assert.That(EventChannelTable.Close(_b, pb), Is.Zero);
        Assert.That(Pending(_b, pb), Is.False, "evtchn_free clears the pending bit");
        Assert.That(EventChannelTable.AllocUnbound(_b, DomId.Self, _a.Id, out uint again), Is.Zero);
        Assert.That(again, Is.EqualTo(pb), "the lowest free port is reused");
        Assert.That(Pending(_b, again), Is.False);
    }

    [Test]
    public void DestroyingBothEndsLeavesNoPortsBehind()
    {
        Connect(_a, _b);
        Connect(_b, _a);
        _hv.DestroyDomain(_a);
        _hv.DestroyDomain(_b);
        Assert.That(_a.EventChannels.OpenPorts, Is.Zero);
        Assert.That(_b.EventChannels.OpenPorts, Is.Zero);
        Assert.That(_hv.Domains.Where(d => !d.IsManaged), Is.Empty);
    }
}
