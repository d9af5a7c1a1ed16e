using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>NMI callbacks (callback_op, nmi_op), VCPUOP_send_nmi, delivery and masking until the handler's iret.</summary>
public class NmiTests : TrapTestBase
{
    private const ulong Handler = 0xFFFF_FFFF_8000_0200, Interrupted = 0xFFFF_FFFF_8000_0300;

    private void RegisterNmi(ulong address)
    {
        Put(Page2, (uint)CallbackType.Nmi);
        Put(Page2 + 8, address);
        Assert.That(Call(Hypercall.CallbackOp, CallbackType.OpRegister, Page2), Is.Zero);
    }

    private long SendNmi(ulong vcpu = 0, ulong arg = 0) => Call(Hypercall.VcpuOp, VcpuOp.SendNmi, vcpu, arg);

    /// <summary>The guest handler's HYPERVISOR_iret back to the interrupted kernel context, through the syscall entry.</summary>
    private void IretFromHandler()
    {
        // The bounce frame is at RSP: rcx, r11, rip, cs, rflags, rsp, ss; the hypercall page's iret entry wants
        // rax, r11, rcx, flags under rip.
        ulong frame = R.Rsp;
        ulong rip = Get<ulong>(frame + 16), cs = Get<ulong>(frame + 24), rflags = Get<ulong>(frame + 32);
        ulong rsp = Get<ulong>(frame + 40), ss = Get<ulong>(frame + 48);
        ulong at = frame - 32;
        ulong[] iret = [0, 0, 0, 0, rip, cs & 0xFFFF, rflags, rsp, ss];
        for (int i = 0; i < iret.Length; i++) Put(at + (ulong)i * 8, iret[i]);
        R.Rsp = at;
        R.Rax = Hypercall.Iret;
        Hv.Hypercalls.Dispatch(V);
    }

    [Test]
    public void AnNmiSentToARegisteredHandlerIsDeliveredWithEventsMasked()
    {
        RegisterNmi(Handler);
        UpcallMask = 0;
        KernelContext(Interrupted, Stack + 0x800);
        Assert.That(SendNmi(), Is.Zero);
        Assert.That(V.NmiPending, Is.True);
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(R.Rip, Is.EqualTo(Handler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Interrupted), "the interrupted rip in the bounce frame");
        Assert.That(UpcallMask, Is.EqualTo(1), "the NMI callback is entered with events masked");
        Assert.That((V.NmiPending, V.NmiMasked), Is.EqualTo((false, true)));
    }

    [Test]
    public void ASecondNmiWaitsForTheHandlersIret()
    {
        RegisterNmi(Handler);
        KernelContext(Interrupted, Stack + 0x800);
        Assert.That(SendNmi(), Is.Zero);
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(SendNmi(), Is.Zero);
        ulong inHandler = R.Rsp;
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That((R.Rip, R.Rsp), Is.EqualTo((Handler, inHandler)), "masked: not delivered again");
        Assert.That(V.NmiPending, Is.True);
        IretFromHandler();
        Assert.That(R.Rip, Is.EqualTo(Interrupted));
        Assert.That(V.NmiMasked, Is.False);
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(R.Rip, Is.EqualTo(Handler), "the waiting NMI now");
        Assert.That(CrashMessage, Is.Null);
    }

    [Test]
    public void AnNmiWithNoHandlerIsDropped()
    {
        KernelContext(Interrupted, Stack + 0x800);
        Assert.That(SendNmi(), Is.Zero);
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(R.Rip, Is.EqualTo(Interrupted));
        Assert.That((V.NmiPending, V.NmiMasked), Is.EqualTo((false, false)));
        Assert.That(CrashMessage, Is.Null);
    }

    [Test]
    public void UnregisteringTheNmiCallbackClearsTrapTableEntryTwo()
    {
        RegisterNmi(Handler);
        Put(Page2, (uint)CallbackType.Nmi);
        Assert.That(Call(Hypercall.CallbackOp, CallbackType.OpUnregister, Page2), Is.Zero);
        Assert.That(V.TrapTable[ExceptionVector.Nmi].Address, Is.Zero);
        KernelContext(Interrupted, Stack + 0x800);
        Assert.That(SendNmi(), Is.Zero);
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(R.Rip, Is.EqualTo(Interrupted));
    }

    [Test]
    public void NmiOpRegistersWithTheWholeStructReadable()
    {
        Put(Page2, Handler);
        Put(Page2 + 8, 0UL);
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiRegisterCallback, Page2), Is.Zero);
        Assert.That(V.TrapTable[ExceptionVector.Nmi].Address, Is.EqualTo(Handler));
        Assert.That(V.TrapTable[ExceptionVector.Nmi].MasksEvents, Is.True);
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiRegisterCallback, 0x1000), Is.EqualTo(-XenErrno.EFAULT));
        Put(Page2, 0x0000_8000_0000_0000UL);
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiRegisterCallback, Page2), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiUnregisterCallback, 0), Is.Zero);
        Assert.That(V.TrapTable[ExceptionVector.Nmi].Address, Is.Zero);
        Assert.That(Call(Hypercall.NmiOp, 2, 0), Is.EqualTo(-XenErrno.ENOSYS));
    }

    [Test]
    public void SendNmiTakesNoArgumentAndAnExistingVcpu()
    {
        Assert.That(SendNmi(arg: Page2), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(SendNmi(vcpu: 7), Is.EqualTo(-XenErrno.ENOENT));
        Assert.That(V.NmiPending, Is.False);
    }
}
