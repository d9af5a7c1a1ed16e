using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>CR0.TS (IVcpu.TaskSwitched, set by fpu_taskswitch): x87 and SSE instructions raise #NM until it is cleared.</summary>
public class TaskSwitchedTests
{
    [Test]
    public void AnSseInstructionWithTaskSwitchedSetRaisesDeviceNotAvailableAtTheInstruction()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.movaps(xmm1, xmm0); a.int3(); });
        m.Vcpu.TaskSwitched = true;
        var exit = m.Run();
        Assert.That((exit.Reason, exit.Vector, exit.HasErrorCode), Is.EqualTo((VcpuExitReason.Exception, ExceptionVector.DeviceNotAvailable, false)));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
        m.Vcpu.TaskSwitched = false;
        Assert.That(m.Run().Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt));
    }

    [Test]
    public void AnX87InstructionWithTaskSwitchedSetRaisesDeviceNotAvailable()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.fld1(); a.int3(); });
        m.Vcpu.TaskSwitched = true;
        var exit = m.Run();
        Assert.That((exit.Vector, m.Regs.Rip), Is.EqualTo((ExceptionVector.DeviceNotAvailable, GuestMachine.CodeBase)));
    }

    [Test]
    public void IntegerInstructionsIgnoreTaskSwitched()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(eax, 5); a.add(eax, 2); a.int3(); });
        m.Vcpu.TaskSwitched = true;
        Assert.That(m.Run().Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt));
        Assert.That(m.Regs.Rax, Is.EqualTo(7UL));
    }
}
