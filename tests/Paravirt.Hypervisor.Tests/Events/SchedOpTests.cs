using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Time;

namespace Paravirt.Hypervisor.Tests.Events;

/// <summary>SCHEDOP_block, poll, shutdown_code, remote_shutdown and watchdog.</summary>
public class SchedOpTests
{
    private HypervisorFixture _f = null!;
    private Domain _d = null!;
    private Vcpu _v = null!;
    private ulong _scratch;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        var (d, r) = _f.Build();
        _d = d;
        _v = d.Vcpus[0];
        _scratch = r.Layout.VirtOf(r.Layout.BootStackPfn);
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private long Sched(int cmd, ulong arg = 0) => _f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.SchedOp, (ulong)cmd, arg, 0, 0, 0);
    private ulong Shared => _d.SharedInfoMfn << 12;

    private static bool Eventually(Func<bool> condition, int ms = 3000)
    {
        var deadline = Environment.TickCount64 + ms;
        while (Environment.TickCount64 < deadline) { if (condition()) return true; Thread.Sleep(2); }
        return condition();
    }

    /// <summary>struct sched_poll at scratch, the port list at scratch + 64.</summary>
    private void PutPoll(ulong timeout, params uint[] ports)
    {
        GuestMemory.Write(_v, _scratch, _scratch + 64);
        GuestMemory.Write(_v, _scratch + 8, (ulong)ports.Length);
        GuestMemory.Write(_v, _scratch + 16, timeout);
        for (int i = 0; i < ports.Length; i++) GuestMemory.Write(_v, _scratch + 64 + (ulong)i * 4, ports[i]);
    }

    private void MaskUpcalls(bool masked) => _f.Memory.WriteUInt64(Shared + SharedInfoLayout.VcpuUpcallPending, masked ? 0x100UL : 0);

    [Test]
    public void BlockSleepsUntilAnEventArrives()
    {
        EventChannelTable.BindIpi(_d, 0, out var p);
        Assert.That(Sched(SchedOp.Block), Is.Zero);
        Assert.That(_v.IsBlocked, Is.True);
        EventChannelTable.Send(_d, p);
        Assert.That(_v.IsBlocked, Is.False);
    }

    [Test]
    public void BlockEnablesEventDeliveryAndReturnsAtOnceWhenAnEventIsWaiting()
    {
        _f.Memory.WriteUInt64(Shared + SharedInfoLayout.VcpuUpcallPending, 0x101UL);
        Assert.That(Sched(SchedOp.Block), Is.Zero);
        Assert.That(_v.IsBlocked, Is.False);
        Assert.That(_f.Memory.FrameForRead(_d.SharedInfoMfn)[SharedInfoLayout.VcpuUpcallMask], Is.Zero);
    }

    [Test]
    public void ABlockedVcpuIsWokenByItsTimer()
    {
        EventChannelTable.BindVirq(_d, Virq.Timer, 0, out _);
        _f.Hv.Hypercalls.Call(_v, Hypercall.SetTimerOp, (ulong)(SystemClock.Of(_f.Hv).Now() + 300_000_000), 0, 0, 0, 0);
        Sched(SchedOp.Block);
        Assert.That(_v.IsBlocked, Is.True);
        Assert.That(Eventually(() => !_v.IsBlocked), Is.True);
    }

    [Test]
    public void PollWakesOnAPolledPortEvenWhenItIsMasked()
    {
        EventChannelTable.BindIpi(_d, 0, out var p);
        MaskUpcalls(true);
        _f.Memory.WriteUInt64(Shared + SharedInfoLayout.EvtchnMask, 1UL << (int)p);
        PutPoll(0, p);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.Zero);
        Assert.That(_v.IsBlocked, Is.True);
        EventChannelTable.Send(_d, p);
        Assert.That(_v.IsBlocked, Is.False);
    }

    [Test]
    public void PollIgnoresPortsItDoesNotWatch()
    {
        EventChannelTable.BindIpi(_d, 0, out var watched);
        EventChannelTable.BindIpi(_d, 0, out var other);
        MaskUpcalls(true);
        _f.Memory.WriteUInt64(Shared + SharedInfoLayout.EvtchnMask, ~0UL);
        PutPoll(0, watched);
        Sched(SchedOp.Poll, _scratch);
        EventChannelTable.Send(_d, other);
        Assert.That(_v.IsBlocked, Is.True);
    }

    [Test]
    public void PollReturnsAtOnceWhenAPortIsAlreadyPending()
    {
        EventChannelTable.BindIpi(_d, 0, out var p);
        MaskUpcalls(true);
        EventChannelTable.Send(_d, p);
        PutPoll(0, p);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.Zero);
        Assert.That(_v.IsBlocked, Is.False);
    }

    [Test]
    public void PollEndsAtItsTimeout()
    {
        EventChannelTable.BindIpi(_d, 0, out var p);
        MaskUpcalls(true);
        PutPoll((ulong)(SystemClock.Of(_f.Hv).Now() + 300_000_000), p);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.Zero);
        Assert.That(_v.IsBlocked, Is.True);
        Assert.That(Eventually(() => !_v.IsBlocked), Is.True);
    }

    [Test]
    public void PollWithUpcallsEnabledIsEINVAL()
    {
        MaskUpcalls(false);
        PutPoll(0, 1);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(_v.IsBlocked, Is.False);
    }

    [Test]
    public void PollErrnos()
    {
        MaskUpcalls(true);
        PutPoll(0, 5000);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.EqualTo(-XenErrno.EINVAL), "port past the limit");
        GuestMemory.Write(_v, _scratch + 8, 129UL);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.EqualTo(-XenErrno.EINVAL), "too many ports");
        Assert.That(Sched(SchedOp.Poll, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        PutPoll(0, 1);
        GuestMemory.Write(_v, _scratch, 0x10UL);
        Assert.That(Sched(SchedOp.Poll, _scratch), Is.EqualTo(-XenErrno.EFAULT), "unreadable port list");
        Assert.That(_v.IsBlocked, Is.False);
    }

    [Test]
    public void ShutdownCodeIsWhatALaterShutdownReports()
    {
        GuestMemory.Write(_v, _scratch, (uint)ShutdownReason.Suspend);
        Assert.That(Sched(SchedOp.ShutdownCode, _scratch), Is.Zero);
        Assert.That(_d.IsShutdown, Is.False);
        _f.Hv.CrashDomain(_d, "test crash");
        Assert.That(_d.ShutdownReason, Is.EqualTo(ShutdownReason.Suspend));
    }

    [Test]
    public void ShutdownCodeFromABadPointerIsEFAULT() => Assert.That(Sched(SchedOp.ShutdownCode, 0x10), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void Dom0ShutsAGuestDownRemotely()
    {
        Assert.That(SchedOp.DoRemoteShutdown(_f.Hv.Dom0, _d.Id, (uint)ShutdownReason.Reboot), Is.Zero);
        Assert.That(_d.ShutdownReason, Is.EqualTo(ShutdownReason.Reboot));
    }

    [Test]
    public void RemoteShutdownErrnos()
    {
        var other = _f.Build().Domain;
        GuestMemory.Write(_v, _scratch, (ulong)other.Id);
        Assert.That(Sched(SchedOp.RemoteShutdown, _scratch), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(other.IsShutdown, Is.False);
        GuestMemory.Write(_v, _scratch, 4000UL);
        Assert.That(Sched(SchedOp.RemoteShutdown, _scratch), Is.EqualTo(-XenErrno.ESRCH));
        Assert.That(Sched(SchedOp.RemoteShutdown, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(SchedOp.DoRemoteShutdown(_f.Hv.Dom0, 0, 0), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void AWatchdogNotPettedShutsTheDomainDown()
    {
        GuestMemory.Write(_v, _scratch, 1UL << 32); // id 0 (new), timeout 1 s
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.EqualTo(1));
        Assert.That(Eventually(() => _d.IsShutdown, 4000), Is.True);
        Assert.That(_d.ShutdownReason, Is.EqualTo(ShutdownReason.Watchdog));
    }

    [Test]
    public void APettedWatchdogKeepsTheDomainAliveAndCanBeReleased()
    {
        GuestMemory.Write(_v, _scratch, 2UL << 32); // 2 s
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.EqualTo(1));
        Thread.Sleep(1200);
        GuestMemory.Write(_v, _scratch, 1UL | (2UL << 32));
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.Zero);
        Thread.Sleep(1200);
        GuestMemory.Write(_v, _scratch, 1UL);
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.Zero, "timeout 0 releases it");
        Thread.Sleep(2200);
        Assert.That(_d.IsShutdown, Is.False);
        Assert.That(Watchdogs.Of(_d).IsArmed(1), Is.False);
    }

    [Test]
    public void WatchdogErrnos()
    {
        GuestMemory.Write(_v, _scratch, 100UL << 32);
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.EqualTo(1));
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.EqualTo(2));
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.EqualTo(-XenErrno.ENOSPC));
        GuestMemory.Write(_v, _scratch, 3UL | (5UL << 32));
        Assert.That(Sched(SchedOp.Watchdog, _scratch), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Sched(SchedOp.Watchdog, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }
}
