using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>The executor's caches: decode-time handlers, chained blocks, and no allocation while it runs.</summary>
public class DispatchTests
{
    /// <summary>A loop over the commonest forms: loads, stores, ALU, rotates, a call and a fused compare-and-branch.</summary>
    private static void HotLoop(Assembler a, int rounds)
    {
        var top = a.CreateLabel();
        var sub = a.CreateLabel();
        var end = a.CreateLabel();
        a.mov(ecx, rounds);
        a.mov(rsi, GuestMachine.DataBase);
        a.Label(ref top);
        a.mov(eax, __dword_ptr[rsi + 8]);
        a.add(eax, ecx);
        a.ror(eax, 7);
        a.xor(eax, __dword_ptr[rsi]);
        a.mov(__dword_ptr[rsi + 8], eax);
        a.movzx(edx, al);
        a.call(sub);
        a.sub(ecx, 1);
        a.cmp(ecx, 0);
        a.jne(top);
        a.jmp(end);
        a.Label(ref sub);
        a.push(rdx);
        a.lea(rdx, __[rdx + rdx * 2 + 1]);
        a.pop(rdx);
        a.ret();
        a.Label(ref end);
        a.int3();
    }

    [Test]
    public void RunningCachedCodeAllocatesNothing()
    {
        using var m = new GuestMachine();
        m.Load(a => HotLoop(a, 20_000));
        m.Regs.Rsp = GuestMachine.StackTop;
        m.RunToBreakpoint(); // decodes and links every block, and compiles the handlers
        m.Regs.Rip = GuestMachine.CodeBase;
        ulong before = m.Vcpu.InstructionsRetired;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var exit = m.Run();
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.Breakpoint));
        Assert.That(m.Vcpu.InstructionsRetired - before, Is.GreaterThan(200_000UL));
        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public void FusedCompareAndBranchCountsBothInstructions()
    {
        using var m = new GuestMachine();
        // mov ecx, 10; top: dec ecx... as sub/cmp/jne: 3 instructions a round, then int3.
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 10);
            a.Label(ref top);
            a.sub(ecx, 1);
            a.cmp(ecx, 0);
            a.jne(top);
            a.int3();
        });
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.Breakpoint));
        Assert.That(m.Vcpu.InstructionsRetired, Is.EqualTo(1UL + 3 * 10 + 1));
    }

    [Test]
    public void SingleSteppingAFusedPairStopsBetweenTheCompareAndTheBranch()
    {
        using var m = new GuestMachine();
        var code = m.Load(a =>
        {
            var target = a.CreateLabel();
            a.cmp(eax, ebx);
            a.je(target);
            a.nop();
            a.Label(ref target);
            a.int3();
        });
        m.Regs.Rax = m.Regs.Rbx = 5;
        m.Regs.Rflags |= 1UL << 8; // TF
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.Debug));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + 2)); // after the cmp, at the je
        exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.Debug));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + (ulong)code.Length - 1)); // at the int3: taken
    }

    [Test]
    public void AChainedBranchTargetRemappedToAnotherFrameRunsTheNewCode()
    {
        using var m = new GuestMachine();
        ulong target = GuestMachine.DataBase;
        ulong first = m.Map(target, m.AllocFrame(), GuestMachine.P | GuestMachine.US);
        m.Load(a => { a.mov(eax, 1); a.int3(); }, target);
        // The caller jumps to the target directly, so the caller's block links to the target's block.
        m.Load(a =>
        {
            a.add(ecx, 1);
            a.jmp(target);
        });
        m.RunToBreakpoint();
        m.Regs.Rip = GuestMachine.CodeBase;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.Regs.Rcx), Is.EqualTo((1UL, 2UL)));

        // Point the target page at another frame holding different code, as a guest's page-table update and
        // invlpg (or the hypervisor's flush) would; the link made under the old translation must not be followed.
        ulong second = m.AllocFrame();
        m.Map(target, second, GuestMachine.P | GuestMachine.US);
        m.Vcpu.InvalidatePage(target);
        m.Load(a => { a.mov(eax, 2); a.int3(); }, target);
        Assert.That(m.MachineAddress(target) >> 12, Is.EqualTo(second).And.Not.EqualTo(first));
        m.Regs.Rip = GuestMachine.CodeBase;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(2UL));
    }
}
