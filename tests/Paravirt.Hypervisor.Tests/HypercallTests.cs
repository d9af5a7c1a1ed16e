using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Hypercalls driven directly with guest-virtual arguments inside a built domain.</summary>
public class HypercallTests
{
    private HypervisorFixture _f = null!;
    private Domain _d = null!;
    private Vcpu _v = null!;
    private ulong _scratch;
    private ulong _pageTables;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        var (d, r) = _f.Build();
        _d = d;
        _v = d.Vcpus[0];
        _scratch = r.Layout.VirtOf(r.Layout.BootStackPfn); // a writable page of the guest
        _pageTables = r.Layout.VirtOf(r.Layout.PageTablePfn); // mapped read-only
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private long Call(int nr, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0) => _f.Hv.Hypercalls.Call(_v, (ulong)nr, a1, a2, a3, 0, 0);

    private void Put(ulong va, byte[] bytes) => Assert.That(GuestMemory.CopyTo(_v, va, bytes), Is.True);

    private byte[] Get(ulong va, int n)
    {
        var b = new byte[n];
        Assert.That(GuestMemory.CopyFrom(_v, va, b), Is.True);
        return b;
    }

    [TestCase(Hypercall.MmuUpdate - 1 + 1000)]
    [TestCase(63)]
    [TestCase(-1)]
    public void AnUnknownHypercallReturnsENOSYS(int nr) => Assert.That(Call(nr), Is.EqualTo(-XenErrno.ENOSYS));

    [Test]
    public void XenVersionReportsMajorAndMinor() => Assert.That(Call(Hypercall.XenVersion, 0), Is.EqualTo((4 << 16) | 19));

    [Test]
    public void XenVersionCapabilitiesNameTheSixtyFourBitPvAbi()
    {
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.Capabilities, _scratch), Is.Zero);
        Assert.That(Encoding.ASCII.GetString(Get(_scratch, 15)), Is.EqualTo("xen-3.0-x86_64\0"));
    }

    [Test]
    public void XenVersionPlatformParametersGiveTheHypervisorVirtStart()
    {
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.PlatformParameters, _scratch), Is.Zero);
        Assert.That(BitConverter.ToUInt64(Get(_scratch, 8)), Is.EqualTo(0xFFFF800000000000));
    }

    [Test]
    public void XenVersionGuestHandleIsTheDomainUuid()
    {
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.GuestHandle, _scratch), Is.Zero);
        Assert.That(Get(_scratch, 16), Is.EqualTo(_d.Uuid.ToByteArray(bigEndian: true)));
    }

    [Test]
    public void XenVersionCommandLineIsPrivileged() => Assert.That(Call(Hypercall.XenVersion, XenVersionOp.Commandline, _scratch), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void XenVersionWithABadBufferFaults() => Assert.That(Call(Hypercall.XenVersion, XenVersionOp.ExtraVersion, 0x1000), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void XenVersionIntoTheHypervisorRangeFaults() => Assert.That(Call(Hypercall.XenVersion, XenVersionOp.ExtraVersion, 0xFFFF800000001000), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void XenVersionIntoAReadOnlyPageTableFaults() =>
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.Capabilities, _pageTables), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void ConsoleIoWriteLandsInTheConsoleRingLineByLine()
    {
        Put(_scratch, Encoding.ASCII.GetBytes("hello\nwor"));
        Assert.That(Call(Hypercall.ConsoleIo, ConsoleIoOp.Write, 9, _scratch), Is.Zero);
        Put(_scratch, Encoding.ASCII.GetBytes("ld\n"));
        Assert.That(Call(Hypercall.ConsoleIo, ConsoleIoOp.Write, 3, _scratch), Is.Zero);
        var log = _f.Hv.Console.Read(clear: false);
        Assert.That(log, Does.Contain($"(d{_d.Id}) hello\n(d{_d.Id}) world\n"));
    }

    [Test]
    public void ConsoleIoReadIsPrivileged() => Assert.That(Call(Hypercall.ConsoleIo, ConsoleIoOp.Read, 10, _scratch), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void ConsoleIoWriteFromAnUnmappedBufferFaults() => Assert.That(Call(Hypercall.ConsoleIo, ConsoleIoOp.Write, 10, 0x10), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void SchedOpShutdownPowersOffWithTheGivenReason()
    {
        Put(_scratch, BitConverter.GetBytes((uint)ShutdownReason.Poweroff));
        Assert.That(Call(Hypercall.SchedOp, SchedOp.Shutdown, _scratch), Is.Zero);
        Assert.That(_d.ShutdownReason, Is.EqualTo(ShutdownReason.Poweroff));
    }

    [Test]
    public void SchedOpShutdownWithCrashCrashesTheDomain()
    {
        Put(_scratch, BitConverter.GetBytes((uint)ShutdownReason.Crash));
        Call(Hypercall.SchedOp, SchedOp.Shutdown, _scratch);
        Assert.That(_d.ShutdownReason, Is.EqualTo(ShutdownReason.Crash));
        Assert.That(_d.CrashMessage, Does.Contain("requested crash"));
    }

    [Test]
    public void SchedOpShutdownWithABadPointerFaultsAndKeepsRunning()
    {
        Assert.That(Call(Hypercall.SchedOp, SchedOp.Shutdown, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(_d.IsShutdown, Is.False);
    }

    [Test]
    public void SchedOpYieldSucceeds() => Assert.That(Call(Hypercall.SchedOp, SchedOp.Yield), Is.Zero);

    [Test]
    public void SchedOpRemoteShutdownIsPrivileged() => Assert.That(Call(Hypercall.SchedOp, SchedOp.RemoteShutdown, _scratch), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void EventChannelAllocUnboundWritesThePortBack()
    {
        Put(_scratch, [0xF0, 0x7F, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]); // dom = DOMID_SELF, remote = 0
        Assert.That(Call(Hypercall.EventChannelOp, EventChannelOp.AllocUnbound, _scratch), Is.Zero);
        Assert.That(BitConverter.ToUInt32(Get(_scratch + 4, 4)), Is.EqualTo(1));
    }

    [Test]
    public void EventChannelSendOnAClosedPortIsInvalid()
    {
        Put(_scratch, BitConverter.GetBytes(7u));
        Assert.That(Call(Hypercall.EventChannelOp, EventChannelOp.Send, _scratch), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void HypercallReturnsToRcxWithTheResultInRax()
    {
        var r = _v.Registers;
        r.Rax = Hypercall.XenVersion; r.Rdi = 0; r.Rcx = 0xffffffff80000123; r.R11 = 0x246;
        _f.Hv.Hypercalls.Dispatch(_v);
        Assert.That(r.Rax, Is.EqualTo((ulong)((4 << 16) | 19)));
        Assert.That(r.Rip, Is.EqualTo(0xffffffff80000123));
        Assert.That(r.Rflags & VcpuRegisters.RflagsIf, Is.Not.Zero);
    }
}
