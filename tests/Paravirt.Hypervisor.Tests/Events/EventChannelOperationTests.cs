using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Hypervisor.Tests.Events;

/// <summary>The typed event-channel operations (bind_virq, bind_ipi, status, bind_vcpu, unmask, reset, limits).</summary>
public class EventChannelOperationTests
{
    private HypervisorFixture _f = null!;
    private Domain _a = null!;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        _a = _f.Build().Domain;
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private ulong Shared(Domain d) => d.SharedInfoMfn << 12;
    private bool Pending(Domain d, uint port) => (_f.Memory.ReadUInt64(Shared(d) + SharedInfoLayout.EvtchnPending + port / 64 * 8) & (1UL << (int)(port % 64))) != 0;
    private void SetMask(Domain d, uint port) => _f.Memory.WriteUInt64(Shared(d) + SharedInfoLayout.EvtchnMask + port / 64 * 8, 1UL << (int)(port % 64));
    private ulong MaskWord(Domain d, uint port) => _f.Memory.ReadUInt64(Shared(d) + SharedInfoLayout.EvtchnMask + port / 64 * 8);
    private byte UpcallPending(Domain d, int vcpu) => _f.Memory.FrameForRead(d.SharedInfoMfn)[SharedInfoLayout.VcpuInfo(vcpu) + SharedInfoLayout.VcpuUpcallPending];
    private ulong Selector(Domain d, int vcpu) => _f.Memory.ReadUInt64(Shared(d) + (ulong)SharedInfoLayout.VcpuInfo(vcpu) + SharedInfoLayout.VcpuPendingSel);

    private void ClearEventState(Domain d)
    {
        for (ulong w = 0; w < 64; w++) _f.Memory.WriteUInt64(Shared(d) + SharedInfoLayout.EvtchnPending + w * 8, 0);
        _f.Memory.WriteUInt64(Shared(d) + SharedInfoLayout.VcpuPendingSel, 0);
        _f.Memory.WriteUInt64(Shared(d) + SharedInfoLayout.VcpuUpcallPending, 0x0100); // pending 0, mask 1
    }

    [Test]
    public void BindVirqTimerGivesAPortThatTheTimerVirqMakesPending()
    {
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Timer, 0, out var port), Is.Zero);
        EventChannelTable.SendVcpuVirq(_a, 0, Virq.Timer);
        Assert.That(Pending(_a, port), Is.True);
        Assert.That(UpcallPending(_a, 0), Is.EqualTo(1));
    }

    [Test]
    public void AnUnboundVirqRaisesNothing()
    {
        EventChannelTable.SendVcpuVirq(_a, 0, Virq.Debug);
        Assert.That(_f.Memory.ReadUInt64(Shared(_a) + SharedInfoLayout.EvtchnPending), Is.Zero);
    }

    [Test]
    public void BindingTheSameVirqTwiceOnOneVcpuIsEEXIST()
    {
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Debug, 0, out _), Is.Zero);
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Debug, 0, out _), Is.EqualTo(-XenErrno.EEXIST));
    }

    [Test]
    public void AVirqCanBeBoundAgainAfterItsPortIsClosed()
    {
        EventChannelTable.BindVirq(_a, Virq.Console, 0, out var p);
        Assert.That(EventChannelTable.Close(_a, p), Is.Zero);
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Console, 0, out _), Is.Zero);
    }

    [TestCase(24u)]
    [TestCase(uint.MaxValue)]
    public void BindingAVirqOutOfRangeIsEINVAL(uint virq) =>
        Assert.That(EventChannelTable.BindVirq(_a, virq, 0, out _), Is.EqualTo(-XenErrno.EINVAL));

    [TestCase(Virq.Console)]
    [TestCase(Virq.DomExc)]
    public void BindingAGlobalVirqOnAVcpuOtherThanZeroIsEINVAL(uint virq) =>
        Assert.That(EventChannelTable.BindVirq(_a, virq, 1, out _), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void BindingAPerVcpuVirqOnAMissingVcpuIsENOENT() =>
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Timer, 1, out _), Is.EqualTo(-XenErrno.ENOENT));

    [Test]
    public void ARejectedBindLeavesNoPortBehind()
    {
        EventChannelTable.BindVirq(_a, Virq.Timer, 5, out _);
        EventChannelTable.BindVirq(_a, 99, 0, out _);
        EventChannelTable.BindIpi(_a, 3, out _);
        Assert.That(_a.EventChannels.OpenPorts, Is.Zero);
    }

    [Test]
    public void DomExcReachesDom0WhenAGuestShutsDown()
    {
        var dom0 = _f.Hv.Dom0;
        Assert.That(EventChannelTable.BindVirq(dom0, Virq.DomExc, 0, out var p), Is.Zero);
        int raised = 0;
        dom0.EventChannels.SetHandler(p, () => Interlocked.Increment(ref raised));
        _f.Hv.ShutdownDomain(_a, ShutdownReason.Poweroff);
        Assert.That(raised, Is.EqualTo(1));
    }

    [Test]
    public void DomExcReachesDom0WhenAGuestIsDestroyed()
    {
        var dom0 = _f.Hv.Dom0;
        EventChannelTable.BindVirq(dom0, Virq.DomExc, 0, out var p);
        int raised = 0;
        dom0.EventChannels.SetHandler(p, () => Interlocked.Increment(ref raised));
        _f.Hv.DestroyDomain(_a);
        Assert.That(raised, Is.EqualTo(1));
    }

    [Test]
    public void ASecondShutdownRaisesNoSecondDomExc()
    {
        var dom0 = _f.Hv.Dom0;
        EventChannelTable.BindVirq(dom0, Virq.DomExc, 0, out var p);
        int raised = 0;
        dom0.EventChannels.SetHandler(p, () => Interlocked.Increment(ref raised));
        _f.Hv.ShutdownDomain(_a, ShutdownReason.Poweroff);
        _f.Hv.ShutdownDomain(_a, ShutdownReason.Reboot);
        Assert.That(raised, Is.EqualTo(1));
    }

    [Test]
    public void SendingOnAnIpiPortMakesItPendingInTheSameDomain()
    {
        Assert.That(EventChannelTable.BindIpi(_a, 0, out var p), Is.Zero);
        Assert.That(EventChannelTable.Send(_a, p), Is.Zero);
        Assert.That(Pending(_a, p), Is.True);
        Assert.That(Selector(_a, 0) & 1, Is.EqualTo(1));
    }

    [Test]
    public void BindIpiOnAMissingVcpuIsENOENT() =>
        Assert.That(EventChannelTable.BindIpi(_a, 1, out _), Is.EqualTo(-XenErrno.ENOENT));

    [Test]
    public void SendingOnAVirqPortIsEINVAL()
    {
        EventChannelTable.BindVirq(_a, Virq.Timer, 0, out var p);
        Assert.That(EventChannelTable.Send(_a, p), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void StatusReportsAnUnboundPortAndItsRemoteDomain()
    {
        EventChannelTable.AllocUnbound(_a, DomId.Self, 0, out var p);
        Assert.That(EventChannelTable.Status(_a, DomId.Self, p, out var st), Is.Zero);
        Assert.That(st, Is.EqualTo(new EventChannelStatus(EventChannelState.Unbound, 0, 0, 0, 0)));
    }

    [Test]
    public void StatusReportsBothEndsOfAnInterdomainChannel()
    {
        var b = _f.Build().Domain;
        EventChannelTable.AllocUnbound(_a, DomId.Self, b.Id, out var pa);
        EventChannelTable.BindInterdomain(b, _a.Id, pa, out var pb);
        EventChannelTable.Status(_a, DomId.Self, pa, out var sa);
        EventChannelTable.Status(b, DomId.Self, pb, out var sb);
        Assert.That(sa, Is.EqualTo(new EventChannelStatus(EventChannelState.Interdomain, 0, b.Id, pb, 0)));
        Assert.That(sb, Is.EqualTo(new EventChannelStatus(EventChannelState.Interdomain, 0, _a.Id, pa, 0)));
    }

    [Test]
    public void StatusReportsTheVirqOfAVirqPort()
    {
        EventChannelTable.BindVirq(_a, Virq.Debug, 0, out var p);
        EventChannelTable.Status(_a, DomId.Self, p, out var st);
        Assert.That(st, Is.EqualTo(new EventChannelStatus(EventChannelState.Virq, 0, 0, 0, Virq.Debug)));
    }

    [Test]
    public void StatusOfAFreedPortIsClosed()
    {
        EventChannelTable.BindIpi(_a, 0, out var p);
        EventChannelTable.Close(_a, p);
        Assert.That(EventChannelTable.Status(_a, DomId.Self, p, out var st), Is.Zero);
        Assert.That(st.State, Is.EqualTo(EventChannelState.Closed));
    }

    [Test]
    public void StatusOfAPortNeverAllocatedIsEINVAL() =>
        Assert.That(EventChannelTable.Status(_a, DomId.Self, 500, out _), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void StatusOfAnotherDomainsPortIsEPERMForAGuest()
    {
        var b = _f.Build().Domain;
        EventChannelTable.BindIpi(b, 0, out var p);
        Assert.That(EventChannelTable.Status(_a, b.Id, p, out _), Is.EqualTo(-XenErrno.EPERM));
    }

    [Test]
    public void Dom0MayReadTheStatusOfAGuestsPort()
    {
        EventChannelTable.BindIpi(_a, 0, out var p);
        Assert.That(EventChannelTable.Status(_f.Hv.Dom0, _a.Id, p, out var st), Is.Zero);
        Assert.That(st.State, Is.EqualTo(EventChannelState.Ipi));
    }

    [Test]
    public void StatusOfAMissingDomainIsESRCH() =>
        Assert.That(EventChannelTable.Status(_f.Hv.Dom0, 4000, 1, out _), Is.EqualTo(-XenErrno.ESRCH));

    [Test]
    public void BindVcpuOnAMissingVcpuIsENOENT()
    {
        EventChannelTable.AllocUnbound(_a, DomId.Self, 0, out var p);
        Assert.That(EventChannelTable.BindVcpu(_a, p, 1), Is.EqualTo(-XenErrno.ENOENT));
    }

    [Test]
    public void BindVcpuOnAnUnboundPortSucceeds()
    {
        EventChannelTable.AllocUnbound(_a, DomId.Self, 0, out var p);
        Assert.That(EventChannelTable.BindVcpu(_a, p, 0), Is.Zero);
    }

    [Test]
    public void BindVcpuOnAGlobalVirqSucceedsButOnAPerVcpuVirqIsEINVAL()
    {
        EventChannelTable.BindVirq(_a, Virq.Console, 0, out var global);
        EventChannelTable.BindVirq(_a, Virq.Timer, 0, out var perVcpu);
        Assert.That(EventChannelTable.BindVcpu(_a, global, 0), Is.Zero);
        Assert.That(EventChannelTable.BindVcpu(_a, perVcpu, 0), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void BindVcpuOnAnIpiPortIsEINVAL()
    {
        EventChannelTable.BindIpi(_a, 0, out var p);
        Assert.That(EventChannelTable.BindVcpu(_a, p, 0), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void BindVcpuOnAClosedOrInvalidPortIsEINVAL()
    {
        Assert.That(EventChannelTable.BindVcpu(_a, 0, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(EventChannelTable.BindVcpu(_a, 77, 0), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void UnmaskingAPendingMaskedPortRaisesTheUpcall()
    {
        EventChannelTable.BindIpi(_a, 0, out var p);
        ClearEventState(_a);
        SetMask(_a, p);
        EventChannelTable.Send(_a, p);
        Assert.That(UpcallPending(_a, 0), Is.Zero);
        Assert.That(EventChannelTable.Unmask(_a, p), Is.Zero);
        Assert.That(MaskWord(_a, p), Is.Zero);
        Assert.That(Selector(_a, 0), Is.EqualTo(1UL << (int)(p / 64)));
        Assert.That(UpcallPending(_a, 0), Is.EqualTo(1));
    }

    [Test]
    public void UnmaskingAPortThatIsNotPendingRaisesNothing()
    {
        EventChannelTable.BindIpi(_a, 0, out var p);
        ClearEventState(_a);
        SetMask(_a, p);
        Assert.That(EventChannelTable.Unmask(_a, p), Is.Zero);
        Assert.That(MaskWord(_a, p), Is.Zero);
        Assert.That(UpcallPending(_a, 0), Is.Zero);
    }

    [Test]
    public void UnmaskingAnUnmaskedPendingPortRaisesNothingNew()
    {
        EventChannelTable.BindIpi(_a, 0, out var p);
        ClearEventState(_a);
        _f.Memory.WriteUInt64(Shared(_a) + SharedInfoLayout.EvtchnPending, 1UL << (int)p);
        Assert.That(EventChannelTable.Unmask(_a, p), Is.Zero);
        Assert.That(UpcallPending(_a, 0), Is.Zero);
    }

    [Test]
    public void UnmaskingAnInvalidPortIsEINVAL() => Assert.That(EventChannelTable.Unmask(_a, 900), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void ResetClosesEveryPortAndUnbindsPeers()
    {
        var b = _f.Build().Domain;
        EventChannelTable.AllocUnbound(_a, DomId.Self, b.Id, out var pa);
        EventChannelTable.BindInterdomain(b, _a.Id, pa, out var pb);
        EventChannelTable.BindVirq(_a, Virq.Timer, 0, out _);
        Assert.That(EventChannelTable.Reset(_a, DomId.Self), Is.Zero);
        Assert.That(_a.EventChannels.OpenPorts, Is.Zero);
        Assert.That(b.EventChannels.StateOf(pb), Is.EqualTo(EventChannelState.Unbound));
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Timer, 0, out _), Is.Zero, "the VIRQ binding went with the port");
    }

    [Test]
    public void ResettingAnotherDomainIsEPERMForAGuest()
    {
        var b = _f.Build().Domain;
        EventChannelTable.BindIpi(b, 0, out _);
        Assert.That(EventChannelTable.Reset(_a, b.Id), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(b.EventChannels.OpenPorts, Is.EqualTo(1));
    }

    [Test]
    public void Dom0MayResetAPausedGuestButNotARunningOne()
    {
        EventChannelTable.BindIpi(_a, 0, out _);
        Assert.That(EventChannelTable.Reset(_f.Hv.Dom0, _a.Id), Is.Zero, "created paused");
        EventChannelTable.BindIpi(_a, 0, out _);
        _f.Hv.Unpause(_a);
        Assert.That(EventChannelTable.Reset(_f.Hv.Dom0, _a.Id), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(_a.EventChannels.OpenPorts, Is.EqualTo(1));
    }

    [Test]
    public void ResettingAMissingDomainIsESRCH() => Assert.That(EventChannelTable.Reset(_f.Hv.Dom0, 4000), Is.EqualTo(-XenErrno.ESRCH));

    [Test]
    public void AllocationPastThePerDomainLimitIsENOSPC()
    {
        _a.EventChannels.MaxPorts = 4;
        for (int i = 0; i < 3; i++) Assert.That(EventChannelTable.BindIpi(_a, 0, out _), Is.Zero);
        Assert.That(EventChannelTable.BindIpi(_a, 0, out _), Is.EqualTo(-XenErrno.ENOSPC));
        Assert.That(EventChannelTable.AllocUnbound(_a, DomId.Self, 0, out _), Is.EqualTo(-XenErrno.ENOSPC));
        Assert.That(EventChannelTable.BindVirq(_a, Virq.Timer, 0, out _), Is.EqualTo(-XenErrno.ENOSPC));
    }

    [Test]
    public void LoweringTheLimitKeepsOpenPortsButStopsReuseOfPortsPastIt()
    {
        for (int i = 0; i < 4; i++) EventChannelTable.BindIpi(_a, 0, out _);
        _a.EventChannels.MaxPorts = 3;
        Assert.That(_a.EventChannels.OpenPorts, Is.EqualTo(4));
        EventChannelTable.Close(_a, 4);
        Assert.That(EventChannelTable.BindIpi(_a, 0, out _), Is.EqualTo(-XenErrno.ENOSPC));
    }

    [TestCase(1)]
    [TestCase(4097)]
    public void ALimitOutsideTheTwoLevelAbiIsRefused(int limit) =>
        Assert.That(() => _a.EventChannels.MaxPorts = limit, Throws.TypeOf<ArgumentOutOfRangeException>());

    [Test]
    public void TheDefaultLimitAllowsPorts1To1023()
    {
        uint last = 0;
        for (int i = 0; i < 1023; i++) Assert.That(EventChannelTable.BindIpi(_a, 0, out last), Is.Zero);
        Assert.That(last, Is.EqualTo(1023));
        Assert.That(EventChannelTable.BindIpi(_a, 0, out _), Is.EqualTo(-XenErrno.ENOSPC));
    }
    [Test]
    public void DestroyingOneEndOfAnInterdomainChannelLeavesTheOtherUnboundAndSendHarmless()
    {
        var b = _f.Build().Domain;
        EventChannelTable.AllocUnbound(_a, DomId.Self, b.Id, out var pa);
        EventChannelTable.BindInterdomain(b, _a.Id, pa, out var pb);
        _f.Hv.DestroyDomain(_a);
        Assert.That(EventChannelTable.Status(b, DomId.Self, pb, out var st), Is.Zero);
        Assert.That(st.State, Is.EqualTo(EventChannelState.Unbound));
        Assert.That(EventChannelTable.Send(b, pb), Is.Zero, "dropped, as on an unbound port");
        Assert.That(EventChannelTable.BindInterdomain(b, _a.Id, pa, out _), Is.EqualTo(-XenErrno.ESRCH));
    }

    [Test]
    public void DomExcGoesOnlyToDom0()
    {
        var b = _f.Build().Domain;
        EventChannelTable.BindVirq(b, Virq.DomExc, 0, out var p);
        ClearEventState(b);
        _f.Hv.ShutdownDomain(_a, ShutdownReason.Poweroff);
        Assert.That(Pending(b, p), Is.False);
    }
}
