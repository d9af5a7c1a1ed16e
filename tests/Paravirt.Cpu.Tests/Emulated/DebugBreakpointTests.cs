using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>DR0-DR3/DR7 instruction breakpoints on the emulated vCPU (SDM vol. 3, 18.2, 18.3.1.1).</summary>
public class DebugBreakpointTests
{
    private const ulong Rf = 1UL << 16, Tf = 1UL << 8;
    // Offsets in the loop below: add ecx,1 at 0, add ebx,2 at 3, cmp ecx,10 at 6, jne at 9.
    private const ulong AddEbx = GuestMachine.CodeBase + 3;

    private static GuestMachine LoopMachine()
    {
        var m = new GuestMachine();
        var bytes = m.Load(a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.add(ecx, 1);
            a.add(ebx, 2);
            a.cmp(ecx, 10);
            a.jne(top);
            a.int3();
        });
        Assert.That((bytes[0], bytes[3], bytes[6]), Is.EqualTo(((byte)0x83, (byte)0x83, (byte)0x83)),
            "offsets above assume these encodings");
        return m;
    }

    private static void AssertDebugFault(GuestMachine m, VcpuExit exit, ulong rip, ulong status)
    {
        Assert.That((exit.Reason, exit.Vector), Is.EqualTo((VcpuExitReason.Exception, ExceptionVector.Debug)));
        Assert.That(m.Regs.Rip, Is.EqualTo(rip));
        Assert.That(m.Vcpu.DebugStatus, Is.EqualTo(status));
    }

    [Test]
    public void AnEnabledInstructionBreakpointFaultsBeforeTheInstructionRuns()
    {
        using var m = LoopMachine();
        m.Vcpu.SetDebugRegisters(AddEbx, 0, 0, 0, 1); // L0, R/W 00, LEN 00
        AssertDebugFault(m, m.Run(), AddEbx, 1);
        Assert.That((m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((1UL, 0UL)), "the add ebx has not run");
    }

    [Test]
    public void ResumeFlagLetsTheBreakpointedInstructionRunOnce()
    {
        using var m = LoopMachine();
        m.Vcpu.SetDebugRegisters(0, 0, 0, AddEbx, 1UL << 7); // G3
        AssertDebugFault(m, m.Run(), AddEbx, 8);
        m.Regs.Rflags |= Rf; // as the guest's iret frame would carry it
        AssertDebugFault(m, m.Run(), AddEbx, 8);
        Assert.That((m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((2UL, 2UL)),
            "one pass of the loop, then the breakpoint again");
        Assert.That(m.Regs.Rflags & Rf, Is.Zero, "RF is cleared once an instruction completes");
        // Without RF the breakpoint faults again at once, with nothing executed.
        AssertDebugFault(m, m.Run(), AddEbx, 8);
        Assert.That((m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((2UL, 2UL)));
    }

    [Test]
    public void ABreakpointSetAfterItsBlockWasCachedIsTakenAndDisablingItRunsOn()
    {
        using var m = LoopMachine();
        m.RunToBreakpoint(); // the loop is decoded, cached and chained
        Assert.That(m.Regs.Rcx, Is.EqualTo(10UL));
        m.Regs.Rip = GuestMachine.CodeBase;
        m.Regs.Rcx = 4;
        m.Regs.Rbx = 0;
        m.Vcpu.SetDebugRegisters(0, GuestMachine.CodeBase + 6, 0, 0, 1UL << 2); // L1 on the cmp, mid-block
        AssertDebugFault(m, m.Run(), GuestMachine.CodeBase + 6, 2);
        Assert.That((m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((5UL, 2UL)));
        m.Vcpu.SetDebugRegisters(0, GuestMachine.CodeBase + 6, 0, 0, 0);
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((10UL, 12UL)));
    }

    [Test]
    public void StatusReportsEveryEnabledMatchingExecuteBreakpointOnly()
    {
        using var m = LoopMachine();
        // DR0 and DR2 enabled on the instruction; DR1 matches but is disabled; DR3 matches but is a write breakpoint.
        ulong dr7 = 1 | (1UL << 4) | (1UL << 6) | (1UL << 28);
        m.Vcpu.SetDebugRegisters(AddEbx, AddEbx, AddEbx, AddEbx, dr7);
        AssertDebugFault(m, m.Run(), AddEbx, 0b0101);
    }

    [Test]
    public void AWriteBreakpointAloneLeavesExecutionAlone()
    {
        using var m = LoopMachine();
        m.Vcpu.SetDebugRegisters(AddEbx, 0, 0, 0, 1 | (1UL << 16)); // L0, R/W 01
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((10UL, 20UL)));
    }

    [Test]
    public void SingleStepReportsBsAndTheBreakpointFaultsOnTheNextInstruction()
    {
        using var m = LoopMachine();
        m.Vcpu.SetDebugRegisters(AddEbx, 0, 0, 0, 1);
        m.Regs.Rflags |= Tf;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.Debug));
        Assert.That((m.Regs.Rip, m.Vcpu.DebugStatus), Is.EqualTo((AddEbx, 1UL << 14)), "trap after add ecx");
        AssertDebugFault(m, m.Run(), AddEbx, 1);
        Assert.That(m.Regs.Rbx, Is.Zero);
    }

    [Test]
    public void OtherExitsReportNoDebugStatus()
    {
        using var m = LoopMachine();
        m.Vcpu.SetDebugRegisters(AddEbx, 0, 0, 0, 1);
        AssertDebugFault(m, m.Run(), AddEbx, 1);
        m.Vcpu.SetDebugRegisters(0, 0, 0, 0, 0x400);
        m.RunToBreakpoint();
        Assert.That(m.Vcpu.DebugStatus, Is.Zero);
    }
}
