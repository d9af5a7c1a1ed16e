using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// MOV SS / POP SS hold back debug exceptions until the end of the next instruction (SDM vol. 3, 6.8.3); when
/// that instruction leaves guest context (syscall), the held #DB is the hypervisor's and Xen discards it
/// (XSA-260). Found by XTF's xsa-260 test ("mov %ss; nop" must trap after the nop).
/// </summary>
public class SsShadowTests
{
    private const ulong Tf = 1UL << 8, Bs = 1UL << 14;
    private const ulong X = GuestMachine.DataBase + 0x108;
    /// <summary>DR7: breakpoint 0 enabled (L0) as a 4-byte read/write data breakpoint.</summary>
    private const ulong Dr7ReadWrite4 = 1UL | (3UL << 16) | (3UL << 18);

    /// <summary>A flat, present, writable DPL 3 data descriptor for every selector: what SS and DS load.</summary>
    private static bool FlatUserData(ushort selector, out ulong descriptor)
    {
        descriptor = 0x00CF_F300_0000_FFFFUL;
        return true;
    }

    private static ulong[] Ends(GuestMachine m, Action<Assembler> body)
    {
        m.Vcpu.Descriptors = FlatUserData;
        var bytes = m.Load(a => { body(a); a.int3(); });
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes));
        decoder.IP = GuestMachine.CodeBase;
        var ends = new List<ulong>();
        while (decoder.IP < GuestMachine.CodeBase + (ulong)bytes.Length)
        {
            decoder.Decode(out var instruction);
            ends.Add(instruction.NextIP);
        }
        return ends.ToArray();
    }

    private static void AssertDebugTrap(GuestMachine m, VcpuExit exit, ulong rip, ulong status)
    {
        Assert.That((exit.Reason, exit.Vector), Is.EqualTo((VcpuExitReason.Exception, ExceptionVector.Debug)),
            $"exit at rip 0x{m.Regs.Rip:x}");
        Assert.That((m.Regs.Rip, m.Vcpu.DebugStatus), Is.EqualTo((rip, status)));
    }

    [Test]
    public void ADataBreakpointOnTheMovSsOperandTrapsAfterTheNextInstruction()
    {
        using var m = new GuestMachine();
        var ends = Ends(m, a => { a.mov(ss, __word_ptr[rbx]); a.mov(ecx, 7); a.mov(edx, 9); });
        m.WriteU64(X, GuestMachine.UserSs);
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7ReadWrite4);
        AssertDebugTrap(m, m.Run(), ends[1], 1);
        Assert.That((m.Regs.Rcx, m.Regs.Rdx), Is.EqualTo((7UL, 0UL)), "the shadowed instruction ran, the one after it not");
    }

    [Test]
    public void ADataBreakpointOnAnotherSegmentLoadTrapsRightAfterIt()
    {
        using var m = new GuestMachine();
        var ends = Ends(m, a => { a.mov(ds, __word_ptr[rbx]); a.mov(ecx, 7); });
        m.WriteU64(X, GuestMachine.UserSs);
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7ReadWrite4);
        AssertDebugTrap(m, m.Run(), ends[0], 1);
        Assert.That(m.Regs.Rcx, Is.Zero);
    }

    [Test]
    public void SingleSteppingMovSsTrapsOnceAfterTheNextInstruction()
    {
        using var m = new GuestMachine();
        var ends = Ends(m, a => { a.mov(ss, __word_ptr[rbx]); a.mov(ecx, 7); a.mov(edx, 9); });
        m.WriteU64(X, GuestMachine.UserSs);
        m.Regs.Rbx = X;
        m.Regs.Rflags |= Tf;
        AssertDebugTrap(m, m.Run(), ends[1], Bs);
        Assert.That(m.Regs.Rdx, Is.Zero);
        AssertDebugTrap(m, m.Run(), ends[2], Bs); // the shadow is over: the next step traps on its own
    }

    [Test]
    public void AHeldDebugTrapIsDroppedWhenTheShadowedInstructionIsASyscall()
    {
        using var m = new GuestMachine();
        var ends = Ends(m, a => { a.mov(ss, __word_ptr[rbx]); a.syscall(); a.mov(ecx, 7); a.mov(edx, 9); });
        m.WriteU64(X, GuestMachine.UserSs);
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7ReadWrite4);
        var exit = m.Run();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.Syscall));
        Assert.That(m.Regs.Rip, Is.EqualTo(ends[1]));
        m.Vcpu.SetDebugRegisters(0, 0, 0, 0, 0);
        m.RunToBreakpoint(); // no #DB left over for the instructions after the syscall
        Assert.That((m.Regs.Rcx, m.Regs.Rdx), Is.EqualTo((7UL, 9UL)));
    }
}
