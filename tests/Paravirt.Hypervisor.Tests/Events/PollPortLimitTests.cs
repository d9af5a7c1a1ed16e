using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Events;

/// <summary>
/// SCHEDOP_poll bounds its ports by the event-channel ABI (Xen's do_poll: port &gt;= d-&gt;max_evtchns, 4096 for
/// 2-level), not by the domain's max_evtchn_port (xl max_event_channels): a port the domain could never allocate
/// is just never pending. Found by XTF's xsa-221 test, which polls every port from 32 to 4096.
/// </summary>
public class PollPortLimitTests
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
        _f.Memory.WriteUInt64((_d.SharedInfoMfn << 12) + SharedInfoLayout.VcpuUpcallPending, 0x100UL); // upcalls masked
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    /// <summary>struct sched_poll { ports, nr_ports, timeout } at scratch, one port at scratch + 64.</summary>
    private long Poll(uint port, ulong timeout)
    {
        GuestMemory.Write(_v, _scratch, _scratch + 64);
        GuestMemory.Write(_v, _scratch + 8, 1UL);
        GuestMemory.Write(_v, _scratch + 16, timeout);
        GuestMemory.Write(_v, _scratch + 64, port);
        return _f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.SchedOp, (ulong)SchedOp.Poll, _scratch, 0, 0, 0);
    }

    [TestCase(1024u)]
    [TestCase(2048u)]
    [TestCase(4095u)]
    public void APortPastTheDomainsLimitButWithinTheAbiIsPolledNotRejected(uint port)
    {
        Assert.That(_d.EventChannels.MaxPorts, Is.LessThanOrEqualTo((int)port), "the port is beyond what the domain may allocate");
        Assert.That(Poll(port, 1), Is.Zero);
    }

    [TestCase(4096u)]
    [TestCase(uint.MaxValue)]
    public void APortPastTheTwoLevelAbiIsEINVAL(uint port)
    {
        Assert.That(Poll(port, 1), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(_v.IsBlocked, Is.False);
    }

    [Test]
    public void AnUnallocatedPortWhosePendingBitTheGuestSetEndsThePollAtOnce()
    {
        const uint port = 3000;
        ulong word = (_d.SharedInfoMfn << 12) + SharedInfoLayout.EvtchnPending + port / 64 * 8;
        _f.Memory.WriteUInt64(word, 1UL << (int)(port % 64));
        Assert.That(Poll(port, 0), Is.Zero);
        Assert.That(_v.IsBlocked, Is.False, "already pending: no sleep");
    }
}
