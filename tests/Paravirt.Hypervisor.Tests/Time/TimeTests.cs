using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Time;

namespace Paravirt.Hypervisor.Tests.Time;

/// <summary>vcpu_time_info, the wall clock, set_timer_op and the VCPUOP timers.</summary>
public class TimeTests
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

    private long Call(int nr, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0) => _f.Hv.Hypercalls.Call(_v, (ulong)nr, a1, a2, a3, 0, 0);
    private ulong TimeInfo => (_d.SharedInfoMfn << 12) + SharedInfoLayout.VcpuTime;
    private SystemClock Clock => SystemClock.Of(_f.Hv);
    private bool TimerPending()
    {
        ulong w = _f.Memory.ReadUInt64((_d.SharedInfoMfn << 12) + SharedInfoLayout.EvtchnPending);
        return w != 0;
    }

    private static bool Eventually(Func<bool> condition, int ms = 3000)
    {
        var deadline = Environment.TickCount64 + ms;
        while (Environment.TickCount64 < deadline) { if (condition()) return true; Thread.Sleep(2); }
        return condition();
    }

    [TestCase(1_000_000_000UL, 2147483648u, 1)]
    [TestCase(2_000_000_000UL, 2147483648u, 0)]
    [TestCase(3_000_000_000UL, 2863311530u, -1)]
    [TestCase(100_000_000UL, 2684354560u, 4)]
    public void TheTimeScaleIsXensSetTimeScale(ulong hz, uint mul, int shift) =>
        Assert.That(SystemClock.TimeScale(hz), Is.EqualTo((mul, (sbyte)shift)));

    [Test]
    public void ScalingOneSecondOfTicksGivesOneSecond()
    {
        var c = new SystemClock(() => 0, 3_000_000_000, DateTime.UnixEpoch);
        Assert.That((double)c.Scale(3_000_000_000), Is.EqualTo(1e9).Within(1.0));
    }

    [Test]
    public void VcpuTimeInfoLetsTheGuestExtrapolateSystemTime()
    {
        VcpuTime.Update(_v);
        uint version = (uint)_f.Memory.ReadUInt64(TimeInfo);
        ulong tscStamp = _f.Memory.ReadUInt64(TimeInfo + VcpuTime.TscTimestamp);
        ulong system = _f.Memory.ReadUInt64(TimeInfo + VcpuTime.SystemTime);
        ulong mulShift = _f.Memory.ReadUInt64(TimeInfo + VcpuTime.TscToSystemMul);
        Assert.That(version % 2, Is.Zero, "even once published");
        Assert.That(version, Is.Not.Zero);
        Assert.That((uint)mulShift, Is.EqualTo(Clock.TscToSystemMul));
        Assert.That((sbyte)(mulShift >> 32), Is.EqualTo(Clock.TscShift));
        Assert.That((byte)(mulShift >> 40) & VcpuTime.TscStableBit, Is.EqualTo(VcpuTime.TscStableBit));
        Thread.Sleep(20);
        ulong tsc = Clock.ReadTsc();
        long guestNow = (long)(system + Clock.Scale(tsc - tscStamp));
        Assert.That(guestNow, Is.EqualTo(Clock.Now()).Within(50_000_000));
        Assert.That(guestNow - (long)system, Is.GreaterThanOrEqualTo(20_000_000));
    }

    [Test]
    public void EachUpdateAdvancesTheVersionByTwo()
    {
        VcpuTime.Update(_v);
        uint a = (uint)_f.Memory.ReadUInt64(TimeInfo);
        VcpuTime.Update(_v);
        Assert.That((uint)_f.Memory.ReadUInt64(TimeInfo), Is.EqualTo(a + 2));
    }

    [Test]
    public void TheWallClockPlusSystemTimeIsNow()
    {
        VcpuTime.UpdateWallClock(_d);
        ulong s = _d.SharedInfoMfn << 12;
        ulong w = _f.Memory.ReadUInt64(s + SharedInfoLayout.WcVersion);
        ulong nsHi = _f.Memory.ReadUInt64(s + SharedInfoLayout.WcNsec);
        Assert.That((uint)w % 2, Is.Zero);
        ulong sec = (w >> 32) | ((nsHi >> 32) << 32);
        uint nsec = (uint)nsHi;
        Assert.That(nsec, Is.LessThan(1_000_000_000));
        var wallNow = DateTime.UnixEpoch.AddSeconds(sec).AddTicks(nsec / 100).AddTicks(Clock.Now() / 100);
        Assert.That((wallNow - DateTime.UtcNow).Duration(), Is.LessThan(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public void SetTimerOpRaisesVirqTimerAtTheDeadline()
    {
        EventChannelTable.BindVirq(_d, Virq.Timer, 0, out _);
        Assert.That(Call(Hypercall.SetTimerOp, (ulong)(Clock.Now() + 300_000_000)), Is.Zero);
        Assert.That(TimerPending(), Is.False);
        Assert.That(Eventually(TimerPending), Is.True);
    }

    [Test]
    public void SetTimerOpInThePastFiresAtOnce()
    {
        EventChannelTable.BindVirq(_d, Virq.Timer, 0, out _);
        Assert.That(Call(Hypercall.SetTimerOp, 1), Is.Zero);
        Assert.That(Eventually(TimerPending, 1000), Is.True);
    }

    [Test]
    public void SetTimerOpZeroCancelsTheTimer()
    {
        EventChannelTable.BindVirq(_d, Virq.Timer, 0, out _);
        Call(Hypercall.SetTimerOp, (ulong)(Clock.Now() + 300_000_000));
        Assert.That(Call(Hypercall.SetTimerOp, 0), Is.Zero);
        Thread.Sleep(500);
        Assert.That(TimerPending(), Is.False);
        Assert.That(VcpuTimers.Of(_v).SingleshotDeadline, Is.Null);
    }

    [Test]
    public void AFarFutureDeadlineIsClampedNotLost()
    {
        Call(Hypercall.SetTimerOp, ulong.MaxValue >> 1);
        Assert.That(VcpuTimers.Of(_v).SingleshotDeadline, Is.LessThanOrEqualTo(Clock.Now() + SetTimerOp.MaxAheadNs));
    }

    [Test]
    public void VcpuOpSingleshotTimerFires()
    {
        EventChannelTable.BindVirq(_d, Virq.Timer, 0, out _);
        Assert.That(GuestMemory.Write(_v, _scratch, (ulong)(Clock.Now() + 20_000_000)), Is.True);
        Assert.That(GuestMemory.Write(_v, _scratch + 8, 0UL), Is.True);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetSingleshotTimer, 0, _scratch), Is.Zero);
        Assert.That(Eventually(TimerPending), Is.True);
    }

    [Test]
    public void VcpuOpSingleshotInThePastWithFutureFlagIsETIME()
    {
        GuestMemory.Write(_v, _scratch, 1UL);
        GuestMemory.Write(_v, _scratch + 8, (ulong)VcpuOp.SingleshotFuture);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetSingleshotTimer, 0, _scratch), Is.EqualTo(-XenErrno.ETIME));
        Assert.That(VcpuTimers.Of(_v).SingleshotDeadline, Is.Null);
    }

    [Test]
    public void VcpuOpSingleshotErrnos()
    {
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetSingleshotTimer, 0, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetSingleshotTimer, 1, _scratch), Is.EqualTo(-XenErrno.ENOENT));
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.StopSingleshotTimer, 5, 0), Is.EqualTo(-XenErrno.ENOENT));
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.StopSingleshotTimer, 0, 0), Is.Zero);
    }

    [Test]
    public void VcpuOpPeriodicTimerFiresRepeatedlyUntilStopped()
    {
        EventChannelTable.BindVirq(_d, Virq.Timer, 0, out _);
        GuestMemory.Write(_v, _scratch, 5_000_000UL);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetPeriodicTimer, 0, _scratch), Is.Zero);
        var timers = VcpuTimers.Of(_v);
        Assert.That(Eventually(() => timers.Fired >= 3), Is.True);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.StopPeriodicTimer, 0, 0), Is.Zero);
        Thread.Sleep(100);
        long stopped = timers.Fired;
        Thread.Sleep(100);
        Assert.That(timers.Fired, Is.EqualTo(stopped));
    }

    [TestCase(999_999UL)]
    [TestCase(0UL)]
    [TestCase(ulong.MaxValue)]
    public void APeriodBelowOneMillisecondOrAbsurdIsEINVAL(ulong period)
    {
        GuestMemory.Write(_v, _scratch, period);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetPeriodicTimer, 0, _scratch), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(VcpuTimers.Of(_v).PeriodNs, Is.Zero);
    }

    [Test]
    public void VcpuOpPeriodicErrnos()
    {
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetPeriodicTimer, 0, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.SetPeriodicTimer, 3, _scratch), Is.EqualTo(-XenErrno.ENOENT));
    }

    [Test]
    public void VcpuOpIsUpReportsAStartedVcpu()
    {
        // vCPU 0 is online from creation, as in Xen (the builder's context); pausing does not take it down.
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.IsUp, 0, 0), Is.EqualTo(1));
        _f.Hv.Unpause(_d);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.IsUp, 0, 0), Is.EqualTo(1));
    }

    [TestCase(99)]
    public void UnofferedOperationsAreENOSYS(int cmd) => Assert.That(Call(Hypercall.VcpuOp, (ulong)cmd, 0, _scratch), Is.EqualTo(-XenErrno.ENOSYS));
}
