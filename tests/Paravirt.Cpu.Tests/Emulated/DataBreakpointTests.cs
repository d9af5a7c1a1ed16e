using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>DR0-DR3/DR7 data breakpoints on the emulated vCPU (SDM vol. 3, 18.2.4-18.2.5, 18.3.1.2).</summary>
public class DataBreakpointTests
{
    private const ulong Tf = 1UL << 8, Rf = 1UL << 16, Bs = 1UL << 14;
    private const int Write = 1, ReadWrite = 3;
    /// <summary>A watched address in the middle of a data page (8-byte aligned).</summary>
    private const ulong X = GuestMachine.DataBase + 0x108;

    /// <summary>DR7 bits enabling breakpoint <paramref name="n"/> (Ln) as R/W <paramref name="rw"/> over
    /// <paramref name="bytes"/> bytes.</summary>
    private static ulong Dr7(int n, int rw, int bytes)
    {
        ulong len = bytes switch { 1 => 0UL, 2 => 1UL, 4 => 3UL, 8 => 2UL, _ => throw new ArgumentOutOfRangeException(nameof(bytes)) };
        return (1UL << (2 * n)) | ((ulong)rw << (16 + 4 * n)) | (len << (18 + 4 * n));
    }

    /// <summary>Assemble <paramref name="body"/> followed by int3 at <see cref="GuestMachine.CodeBase"/>; returns the
    /// address after each instruction of the body (so tests can name "RIP after the n-th instruction").</summary>
    private static ulong[] Load(GuestMachine m, Action<Assembler> body)
    {
        var bytes = m.Load(a =>
        {
            body(a);
            a.int3();
        });
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes));
        decoder.IP = GuestMachine.CodeBase;
        var ends = new List<ulong>();
        while (decoder.IP < GuestMachine.CodeBase + (ulong)bytes.Length)
        {
            decoder.Decode(out var instruction);
            ends.Add(instruction.NextIP);
        }
        ends.RemoveAt(ends.Count - 1); // the int3
        return ends.ToArray();
    }

    private static void AssertDebugTrap(GuestMachine m, VcpuExit exit, ulong rip, ulong status)
    {
        Assert.That((exit.Reason, exit.Vector), Is.EqualTo((VcpuExitReason.Exception, ExceptionVector.Debug)),
            $"exit at rip 0x{m.Regs.Rip:x}");
        Assert.That((m.Regs.Rip, m.Vcpu.DebugStatus), Is.EqualTo((rip, status)));
    }

    [Test]
    public void AWriteBreakpointTrapsAfterTheStoreWithRipPastIt()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => { a.mov(__dword_ptr[rbx], eax); a.mov(ecx, 7); });
        m.Regs.Rbx = X;
        m.Regs.Rax = 0x1234_5678;
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7(0, Write, 4));
        AssertDebugTrap(m, m.Run(), ends[0], 1);
        Assert.That(m.ReadU64(X), Is.EqualTo(0x1234_5678UL), "a trap: the store has landed");
        Assert.That(m.Regs.Rcx, Is.Zero, "nothing after the store has run");
        m.RunToBreakpoint(); // resuming goes on after the instruction, without a second trap
        Assert.That(m.Regs.Rcx, Is.EqualTo(7UL));
        Assert.That(m.Vcpu.DebugStatus, Is.Zero, "other exits report no debug status");
    }

    [Test]
    public void AWriteBreakpointIsNotHitByAReadButAReadWriteOneIs()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => a.mov(eax, __dword_ptr[rbx]));
        m.WriteU64(X, 0xAB);
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7(0, Write, 4));
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0xABUL));

        m.Regs.Rip = GuestMachine.CodeBase;
        m.Regs.Rax = 0;
        m.Vcpu.SetDebugRegisters(0, X, 0, 0, Dr7(1, ReadWrite, 4));
        AssertDebugTrap(m, m.Run(), ends[0], 2);
        Assert.That(m.Regs.Rax, Is.EqualTo(0xABUL), "the load completed before the trap");
    }

    [Test]
    public void AReadHittingAWriteAndAReadWriteBreakpointReportsOnlyTheReadWriteOne()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => a.mov(rax, __qword_ptr[rbx]));
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(X, X, 0, 0, Dr7(0, Write, 8) | Dr7(1, ReadWrite, 8));
        AssertDebugTrap(m, m.Run(), ends[0], 2);
    }

    [Test]
    public void TheRangeIsAlignedToItsLengthAndAnAccessToItsLastByteHits()
    {
        using var m = new GuestMachine();
        // DR0 = X + 2 with LEN 4 watches X..X+3 (the low two address bits are ignored).
        var ends = Load(m, a =>
        {
            a.mov(__byte_ptr[rbx + 4], 1); // just past the range
            a.mov(__byte_ptr[rbx - 1], 1); // just before it
            a.mov(__byte_ptr[rbx + 3], 1); // its last byte
        });
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(X + 2, 0, 0, 0, Dr7(0, Write, 4));
        AssertDebugTrap(m, m.Run(), ends[2], 1);

        // And its first byte, below the address DR0 holds.
        m.Regs.Rip = GuestMachine.CodeBase;
        m.Regs.Rbx = X + 1;
        AssertDebugTrap(m, m.Run(), ends[1], 1);
    }

    [Test]
    public void AnEightByteAccessStraddlingIntoTheRangeHits()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a =>
        {
            a.mov(__qword_ptr[rbx - 8], rax); // X-8..X-1: adjacent, no hit
            a.mov(__qword_ptr[rbx + 4], rax); // X+4..X+11: adjacent above, no hit
            a.mov(__qword_ptr[rbx - 5], rax); // X-5..X+2: its last three bytes are in the range
        });
        m.Regs.Rbx = X;
        m.Vcpu.SetDebugRegisters(0, 0, X, 0, Dr7(2, Write, 4));
        AssertDebugTrap(m, m.Run(), ends[2], 4);
    }

    [Test]
    public void AnAccessStraddlingAPageBoundaryHitsARangeOnTheSecondPage()
    {
        using var m = new GuestMachine();
        const ulong pageStart = GuestMachine.DataBase + 0x1000;
        var ends = Load(m, a => a.mov(rax, __qword_ptr[rbx]));
        m.Regs.Rbx = pageStart - 3; // bytes pageStart-3 .. pageStart+4
        m.WriteU64(pageStart - 3, 0x1122_3344_5566_7788);
        m.Vcpu.SetDebugRegisters(0, 0, 0, pageStart + 4, Dr7(3, ReadWrite, 1));
        AssertDebugTrap(m, m.Run(), ends[0], 8);
        Assert.That(m.Regs.Rax, Is.EqualTo(0x1122_3344_5566_7788UL));
    }

    [Test]
    public void AnAccessOnTheWatchedPageOutsideTheRangeDoesNotHit()
    {
        using var m = new GuestMachine();
        Load(m, a =>
        {
            a.mov(__qword_ptr[rbx + 8], rax);
            a.mov(__byte_ptr[rbx - 1], al);
            a.mov(rcx, __qword_ptr[rbx + 0x800]);
            a.add(__qword_ptr[rbx + 16], 5);
            a.push(rax); // a stack page: unwatched, for contrast
        });
        m.Regs.Rbx = X;
        m.Regs.Rax = 0x77;
        m.WriteU64(X + 0x800, 0x99);
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7(0, ReadWrite, 8));
        m.RunToBreakpoint();
        Assert.That((m.ReadU64(X + 8), m.Regs.Rcx, m.ReadU64(X + 16), m.ReadBytes(X - 1, 1)[0]),
            Is.EqualTo((0x77UL, 0x99UL, 5UL, (byte)0x77)), "accesses to the uncached page still work");
    }

    [Test]
    public void APushOntoTheWatchedStackSlotTraps()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => { a.push(rbx); a.push(rax); });
        m.Regs.Rax = 0xFEED;
        ulong slot = GuestMachine.StackTop - 16;
        m.Vcpu.SetDebugRegisters(slot, 0, 0, 0, Dr7(0, Write, 8));
        AssertDebugTrap(m, m.Run(), ends[1], 1);
        Assert.That((m.Regs.Rsp, m.ReadU64(slot)), Is.EqualTo((slot, 0xFEEDUL)));
    }

    [Test]
    public void APopFromAWatchedStackSlotTrapsAReadWriteBreakpoint()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => { a.push(rax); a.pop(rcx); });
        m.Regs.Rax = 0x55;
        ulong slot = GuestMachine.StackTop - 8;
        m.Vcpu.SetDebugRegisters(slot, 0, 0, 0, Dr7(0, ReadWrite, 8));
        AssertDebugTrap(m, m.Run(), ends[0], 1); // the push writes it
        AssertDebugTrap(m, m.Run(), ends[1], 1); // the pop reads it
        Assert.That((m.Regs.Rcx, m.Regs.Rsp), Is.EqualTo((0x55UL, GuestMachine.StackTop)));
    }

    [TestCase(5, Description = "a middle iteration: the instruction is left part done")]
    [TestCase(15, Description = "the last iteration: the instruction is complete")]
    public void RepStosbTrapsAfterTheIterationThatHit(int watchedByte)
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => a.rep.stosb());
        m.Regs.Rdi = X;
        m.Regs.Rcx = 16;
        m.Regs.Rax = 0xAA;
        m.Vcpu.SetDebugRegisters(X + (ulong)watchedByte, 0, 0, 0, Dr7(0, Write, 1));
        var exit = m.Run();
        int done = watchedByte + 1;
        bool remaining = done < 16;
        AssertDebugTrap(m, exit, remaining ? GuestMachine.CodeBase : ends[0], 1);
        Assert.That((m.Regs.Rcx, m.Regs.Rdi), Is.EqualTo(((ulong)(16 - done), X + (ulong)done)),
            "RCX and RDI count the completed iterations");
        var bytes = m.ReadBytes(X, 17);
        Assert.That(bytes.Count(b => b == 0xAA), Is.EqualTo(done), "iterations after the hit have not run");
        Assert.That(m.Regs.Rflags & Rf, Is.EqualTo(remaining ? Rf : 0),
            "RF is set in the image of a trap taken after any iteration but the last");
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.ReadBytes(X, 17).Count(b => b == 0xAA)), Is.EqualTo((0UL, 16)),
            "resuming finishes the instruction without a second trap");
    }

    [Test]
    public void ResumingARepStringAfterADataTrapTakesNoSecondInstructionBreakpoint()
    {
        using var m = new GuestMachine();
        Load(m, a => a.rep.stosb());
        m.Regs.Rdi = X;
        m.Regs.Rcx = 16;
        m.Vcpu.SetDebugRegisters(GuestMachine.CodeBase, X + 5, 0, 0, Dr7(0, 0, 1) | Dr7(1, Write, 1));
        AssertDebugTrap(m, m.Run(), GuestMachine.CodeBase, 1); // the instruction breakpoint, before anything ran
        m.Regs.Rflags |= Rf; // the debugger resumes with RF
        AssertDebugTrap(m, m.Run(), GuestMachine.CodeBase, 2);
        Assert.That(m.Regs.Rcx, Is.EqualTo(10UL));
        m.RunToBreakpoint(); // with the RF the trap's image carried
        Assert.That(m.Regs.Rcx, Is.Zero);
    }

    [Test]
    public void SingleSteppingARepStringTrapsAfterEachIteration()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => a.rep.stosq());
        m.Regs.Rdi = X;
        m.Regs.Rcx = 3;
        m.Regs.Rax = 0x1234;
        m.Regs.Rflags |= Tf;
        m.Vcpu.SetDebugRegisters(0, 0, 0, X + 8, Dr7(3, Write, 8));
        AssertDebugTrap(m, m.Run(), GuestMachine.CodeBase, Bs);
        Assert.That((m.Regs.Rcx, m.Regs.Rdi, m.Regs.Rflags & Rf), Is.EqualTo((2UL, X + 8, Rf)));
        AssertDebugTrap(m, m.Run(), GuestMachine.CodeBase, Bs | 8); // this iteration also hits DR3
        Assert.That((m.Regs.Rcx, m.ReadU64(X + 8), m.ReadU64(X + 16)), Is.EqualTo((1UL, 0x1234UL, 0UL)));
        AssertDebugTrap(m, m.Run(), ends[0], Bs);
        Assert.That((m.Regs.Rcx, m.ReadU64(X + 16), m.Regs.Rflags & Rf), Is.EqualTo((0UL, 0x1234UL, 0UL)));
    }

    [Test]
    public void RepMovsqTrapsAReadWriteBreakpointOnItsSource()
    {
        using var m = new GuestMachine();
        Load(m, a => a.rep.movsq());
        ulong src = GuestMachine.DataBase + 0x2000, dst = GuestMachine.DataBase + 0x3000;
        for (ulong i = 0; i < 8; i++) m.WriteU64(src + i * 8, 100 + i);
        m.Regs.Rsi = src;
        m.Regs.Rdi = dst;
        m.Regs.Rcx = 8;
        m.Vcpu.SetDebugRegisters(0, src + 2 * 8 + 4, 0, 0, Dr7(1, ReadWrite, 4));
        AssertDebugTrap(m, m.Run(), GuestMachine.CodeBase, 2);
        Assert.That((m.Regs.Rcx, m.Regs.Rsi, m.Regs.Rdi), Is.EqualTo((5UL, src + 24, dst + 24)));
        Assert.That(m.ReadU64(dst + 16), Is.EqualTo(102UL), "the hitting element was moved");
        Assert.That(m.ReadU64(dst + 24), Is.Zero);
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.ReadU64(dst + 56)), Is.EqualTo((0UL, 107UL)));
    }

    private static readonly (string Name, Action<Assembler> Code, ulong Expected)[] ReadModifyWrites =
    [
        ("add", a => a.add(__dword_ptr[rbx], 1), 11),
        ("lock add", a => a.@lock.add(__dword_ptr[rbx], 1), 11),
        ("xchg", a => a.xchg(__dword_ptr[rbx], ecx), 3),
        ("failing lock cmpxchg writes the old value back", a => a.@lock.cmpxchg(__dword_ptr[rbx], ecx), 10),
        ("bts", a => a.bts(__dword_ptr[rbx], 0), 11),
    ];

    private static IEnumerable<TestCaseData> ReadModifyWriteCases() =>
        ReadModifyWrites.Select((c, i) => new TestCaseData(i).SetArgDisplayNames(c.Name));

    [TestCaseSource(nameof(ReadModifyWriteCases))]
    public void AReadModifyWriteHitsAWriteBreakpoint(int index)
    {
        var (_, code, expected) = ReadModifyWrites[index];
        using var m = new GuestMachine();
        var ends = Load(m, code);
        m.WriteU64(X, 10);
        m.Regs.Rbx = X;
        m.Regs.Rcx = 3;
        m.Regs.Rax = 99; // cmpxchg compares with 99: fails
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7(0, Write, 1));
        AssertDebugTrap(m, m.Run(), ends[0], 1);
        Assert.That(m.ReadU64(X), Is.EqualTo(expected));
    }

    [Test]
    public void TwoBreakpointsHitByOneInstructionSetBothBits()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => a.mov(__qword_ptr[rbx], rax));
        m.Regs.Rbx = X;
        // DR0 on the first byte, DR2 on the last; DR1 just past the store; DR3 on it but disabled.
        ulong dr7 = Dr7(0, Write, 1) | Dr7(1, Write, 8) | Dr7(2, ReadWrite, 1) | ((ulong)Write << 28);
        m.Vcpu.SetDebugRegisters(X, X + 8, X + 7, X, dr7);
        AssertDebugTrap(m, m.Run(), ends[0], 0b0101);
    }

    [Test]
    public void ADisabledBreakpointNeverHits()
    {
        using var m = new GuestMachine();
        Load(m, a => { a.mov(__qword_ptr[rbx], rax); a.mov(rcx, __qword_ptr[rbx]); });
        m.Regs.Rbx = X;
        m.Regs.Rax = 42;
        // R/W 11 and LEN 8 for all four, and L/G clear (LE, GE and GD do not enable anything).
        ulong fields = 0;
        for (int n = 0; n < 4; n++) fields |= Dr7(n, ReadWrite, 8) & ~(3UL << (2 * n));
        m.Vcpu.SetDebugRegisters(X, X, X, X, fields | (3UL << 8));
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rcx, Is.EqualTo(42UL));
    }

    [Test]
    public void ABreakpointSetAfterThePageWasCachedIsHitAndClearingDr7StopsIt()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.mov(__qword_ptr[rbx], rax);
            a.add(rax, 1);
            a.cmp(rax, 4);
            a.jne(top);
        });
        m.Regs.Rbx = X;
        m.RunToBreakpoint(); // the data page's translation is now cached
        Assert.That(m.ReadU64(X), Is.EqualTo(3UL));

        m.Regs.Rip = GuestMachine.CodeBase;
        m.Regs.Rax = 0;
        m.Vcpu.SetDebugRegisters(0, 0, 0, X, Dr7(3, Write, 8));
        AssertDebugTrap(m, m.Run(), ends[0], 8);
        AssertDebugTrap(m, m.Run(), ends[0], 8); // every pass of the loop
        Assert.That(m.Regs.Rax, Is.EqualTo(1UL));

        m.Vcpu.SetDebugRegisters(0, 0, 0, X, 0);
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.ReadU64(X)), Is.EqualTo((4UL, 3UL)));
    }

    [Test]
    public void AReadWriteBreakpointIsNotHitByInstructionFetches()
    {
        using var m = new GuestMachine();
        Load(m, a => { a.mov(ecx, 1); a.mov(edx, 2); });
        m.Vcpu.SetDebugRegisters(GuestMachine.CodeBase, GuestMachine.CodeBase + 5, 0, 0,
            Dr7(0, ReadWrite, 8) | Dr7(1, ReadWrite, 1));
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.Regs.Rdx), Is.EqualTo((1UL, 2UL)));
    }

    [Test]
    public void ABreakpointAndSingleStepOnOneInstructionReportBothInOneTrap()
    {
        using var m = new GuestMachine();
        var ends = Load(m, a => { a.mov(ecx, 1); a.mov(__dword_ptr[rbx], ecx); a.mov(edx, 2); });
        m.Regs.Rbx = X;
        m.Regs.Rflags |= Tf;
        m.Vcpu.SetDebugRegisters(X, 0, 0, 0, Dr7(0, Write, 4));
        AssertDebugTrap(m, m.Run(), ends[0], Bs);
        AssertDebugTrap(m, m.Run(), ends[1], Bs | 1);
        AssertDebugTrap(m, m.Run(), ends[2], Bs);
        Assert.That(m.ReadU64(X), Is.EqualTo(1UL));
    }

    [Test]
    public void AnInstructionThatFaultsReportsItsFaultAndNoDataBreakpoint()
    {
        using var m = new GuestMachine();
        // The data mapping ends at DataBase + 0x4000: a qword store at 0x3FFC hits the range on its first page
        // and faults on the second.
        ulong va = GuestMachine.DataBase + 0x3FFC;
        Load(m, a => a.mov(__qword_ptr[rbx], rax));
        m.Regs.Rbx = va;
        m.Vcpu.SetDebugRegisters(va, 0, 0, 0, Dr7(0, Write, 4));
        var exit = m.Run();
        Assert.That((exit.Vector, exit.FaultAddress, m.Regs.Rip),
            Is.EqualTo((ExceptionVector.PageFault, GuestMachine.DataBase + 0x4000, GuestMachine.CodeBase)));
        Assert.That(m.Vcpu.DebugStatus, Is.Zero);
        Assert.That(m.ReadU64(va - 4) >> 32, Is.Zero, "the store is all or nothing");
    }

    private static readonly (string Name, Action<Assembler> Code, ulong Watch, int Rw)[] WideOperands =
    [
        ("movups store", a => a.movups(__xmmword_ptr[rbx], xmm0), 12, Write),
        ("movdqu load", a => a.movdqu(xmm1, __xmmword_ptr[rbx]), 15, ReadWrite),
        ("fstp tword", a => { a.fldz(); a.fstp(__tword_ptr[rbx]); }, 9, Write),
        ("fxsave64, XMM15's slot", a => a.fxsave64(__[rbx]), 400, Write),
        ("fxrstor64, FIP", a => a.fxrstor64(__[rbx]), 8, ReadWrite),
    ];

    private static IEnumerable<TestCaseData> WideOperandCases() =>
        WideOperands.Select((c, i) => new TestCaseData(i).SetArgDisplayNames(c.Name));

    [TestCaseSource(nameof(WideOperandCases))]
    public void SseX87AndFxsaveOperandsHitTheBreakpointsTheyTouch(int index)
    {
        var (_, code, watch, rw) = WideOperands[index];
        using var m = new GuestMachine();
        var ends = Load(m, code);
        ulong area = GuestMachine.DataBase + 0x200; // 16-byte aligned, for fxsave
        m.Regs.Rbx = area;
        m.Vcpu.SetDebugRegisters(area + watch, 0, 0, 0, Dr7(0, rw, 1));
        AssertDebugTrap(m, m.Run(), ends[^1], 1);
    }
}
