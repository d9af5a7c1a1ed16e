using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Events;

/// <summary>HYPERVISOR_event_channel_op marshalling: struct layouts of event_channel.h, OUT fields, EFAULT paths.</summary>
public class EventChannelAbiTests
{
    private HypervisorFixture _f = null!;
    private Domain _d = null!;
    private Vcpu _v = null!;
    private ulong _scratch;
    private ulong _readOnly;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        var (d, r) = _f.Build();
        _d = d;
        _v = d.Vcpus[0];
        _scratch = r.Layout.VirtOf(r.Layout.BootStackPfn);
        _readOnly = r.Layout.VirtOf(r.Layout.PageTablePfn);
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private long Op(int cmd, ulong arg) => _f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.EventChannelOp, (ulong)cmd, arg, 0, 0, 0);

    private void Put(params uint[] words)
    {
        var b = new byte[words.Length * 4];
        for (int i = 0; i < words.Length; i++) BitConverter.TryWriteBytes(b.AsSpan(i * 4), words[i]);
        Assert.That(GuestMemory.CopyTo(_v, _scratch, b), Is.True);
    }

    private uint Word(int index)
    {
        var b = new byte[4];
        Assert.That(GuestMemory.CopyFrom(_v, _scratch + (ulong)index * 4, b), Is.True);
        return BitConverter.ToUInt32(b);
    }

    [Test]
    public void BindVirqWritesThePortAtOffset8()
    {
        Put(Virq.Timer, 0, 0xFFFFFFFF);
        Assert.That(Op(EventChannelOp.BindVirq, _scratch), Is.Zero);
        Assert.That(Word(2), Is.EqualTo(1));
        Assert.That(_d.EventChannels.StateOf(1), Is.EqualTo(EventChannelState.Virq));
    }

    [Test]
    public void BindVirqErrnosComeBackUnchanged()
    {
        Put(Virq.Console, 1, 0);
        Assert.That(Op(EventChannelOp.BindVirq, _scratch), Is.EqualTo(-XenErrno.EINVAL));
        Put(Virq.Timer, 2, 0);
        Assert.That(Op(EventChannelOp.BindVirq, _scratch), Is.EqualTo(-XenErrno.ENOENT));
    }

    [Test]
    public void BindVirqIntoAReadOnlyStructIsEFAULTAndBindsNothing()
    {
        Assert.That(Op(EventChannelOp.BindVirq, _readOnly), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(_d.EventChannels.OpenPorts, Is.Zero);
    }

    [Test]
    public void BindVirqFromAnUnmappedPointerIsEFAULT() => Assert.That(Op(EventChannelOp.BindVirq, 0x10), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void BindIpiWritesThePortAtOffset4()
    {
        Put(0, 0xFFFFFFFF);
        Assert.That(Op(EventChannelOp.BindIpi, _scratch), Is.Zero);
        Assert.That(Word(1), Is.EqualTo(1));
    }

    [Test]
    public void BindIpiIntoAReadOnlyStructIsEFAULTAndBindsNothing()
    {
        Assert.That(Op(EventChannelOp.BindIpi, _readOnly), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(_d.EventChannels.OpenPorts, Is.Zero);
    }

    [Test]
    public void StatusLaysOutAnInterdomainChannelAsEvtchnStatus()
    {
        EventChannelTable.AllocUnbound(_d, DomId.Self, 0, out var p);
        EventChannelTable.BindInterdomain(_f.Hv.Dom0, _d.Id, p, out var p0);
        Put(DomId.Self, p, 0xEEEE, 0xEEEE, 0xEEEE, 0xEEEE);
        Assert.That(Op(EventChannelOp.Status, _scratch), Is.Zero);
        Assert.That(Word(2), Is.EqualTo((uint)EventChannelState.Interdomain));
        Assert.That(Word(3), Is.Zero, "vcpu");
        Assert.That(Word(4) & 0xFFFF, Is.Zero, "u.interdomain.dom");
        Assert.That(Word(5), Is.EqualTo(p0), "u.interdomain.port");
    }

    [Test]
    public void StatusLaysOutAVirq()
    {
        EventChannelTable.BindVirq(_d, Virq.Debug, 0, out var p);
        Put(DomId.Self, p, 0, 0, 0, 0);
        Assert.That(Op(EventChannelOp.Status, _scratch), Is.Zero);
        Assert.That(Word(2), Is.EqualTo((uint)EventChannelState.Virq));
        Assert.That(Word(4), Is.EqualTo(Virq.Debug));
    }

    [Test]
    public void StatusOfAnotherDomainIsEPERM()
    {
        var b = _f.Build().Domain;
        EventChannelTable.BindIpi(b, 0, out var pb);
        Put(b.Id, pb, 0, 0, 0, 0);
        Assert.That(Op(EventChannelOp.Status, _scratch), Is.EqualTo(-XenErrno.EPERM));
    }

    [Test]
    public void StatusFromAnUnmappedPointerIsEFAULT() => Assert.That(Op(EventChannelOp.Status, 0x10), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void BindVcpuReadsPortThenVcpu()
    {
        EventChannelTable.AllocUnbound(_d, DomId.Self, 0, out var p);
        Put(p, 0);
        Assert.That(Op(EventChannelOp.BindVcpu, _scratch), Is.Zero);
        Put(p, 1);
        Assert.That(Op(EventChannelOp.BindVcpu, _scratch), Is.EqualTo(-XenErrno.ENOENT));
        Assert.That(Op(EventChannelOp.BindVcpu, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }

    [Test]
    public void UnmaskClearsTheMaskBit()
    {
        EventChannelTable.BindIpi(_d, 0, out var p);
        ulong mask = (_d.SharedInfoMfn << 12) + SharedInfoLayout.EvtchnMask;
        _f.Memory.WriteUInt64(mask, 1UL << (int)p);
        Put(p);
        Assert.That(Op(EventChannelOp.Unmask, _scratch), Is.Zero);
        Assert.That(_f.Memory.ReadUInt64(mask), Is.Zero);
        Put(3000);
        Assert.That(Op(EventChannelOp.Unmask, _scratch), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Op(EventChannelOp.Unmask, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }

    [Test]
    public void ResetOfSelfClosesEverything()
    {
        EventChannelTable.BindIpi(_d, 0, out _);
        Put(DomId.Self);
        Assert.That(Op(EventChannelOp.Reset, _scratch), Is.Zero);
        Assert.That(_d.EventChannels.OpenPorts, Is.Zero);
        Put(0);
        Assert.That(Op(EventChannelOp.Reset, _scratch), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(Op(EventChannelOp.Reset, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }

    [TestCase(EventChannelOp.BindPirq)]
    [TestCase(EventChannelOp.InitControl)]
    [TestCase(EventChannelOp.ExpandArray)]
    [TestCase(EventChannelOp.SetPriority)]
    [TestCase(99)]
    public void FifoAndPirqOperationsAreENOSYS(int cmd) => Assert.That(Op(cmd, _scratch), Is.EqualTo(-XenErrno.ENOSYS));
}
