using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// #AC (vector 17) on the emulated vCPU: CR0.AM, EFLAGS.AC and CPL 3 make a misaligned data access fault with
/// error code 0, RIP at the instruction and nothing changed (SDM vol. 3, 6.15; the alignments are the ones the
/// reference host applies, see docs/cpu.md).
/// </summary>
public class AlignmentCheckTests
{
    private const ulong Ac = 1UL << 18;
    /// <summary>A 16-byte aligned address in the middle of a data page.</summary>
    private const ulong X = GuestMachine.DataBase + 0x100;

    /// <summary>One instruction addressing memory through RBX, with the alignment it needs.</summary>
    public sealed record Case(string Name, int Alignment, Action<Assembler> Body)
    {
        public override string ToString() => Name;
    }

    private static IEnumerable<Case> Cases()
    {
        yield return new("mov ax, m16", 2, a => a.mov(ax, __word_ptr[rbx]));
        yield return new("mov eax, m32", 4, a => a.mov(eax, __dword_ptr[rbx]));
        yield return new("mov rax, m64", 8, a => a.mov(rax, __qword_ptr[rbx]));
        yield return new("mov m16, ax", 2, a => a.mov(__word_ptr[rbx], ax));
        yield return new("mov m32, eax", 4, a => a.mov(__dword_ptr[rbx], eax));
        yield return new("mov m64, rax", 8, a => a.mov(__qword_ptr[rbx], rax));
        yield return new("movzx eax, m16", 2, a => a.movzx(eax, __word_ptr[rbx]));
        yield return new("add m32, ecx", 4, a => a.add(__dword_ptr[rbx], ecx));
        yield return new("lock add m64, rcx", 8, a => a.@lock.add(__qword_ptr[rbx], rcx));
        yield return new("xchg m64, rax", 8, a => a.xchg(__qword_ptr[rbx], rax));
        yield return new("lock cmpxchg m32, ecx", 4, a => a.@lock.cmpxchg(__dword_ptr[rbx], ecx));
        yield return new("lock xadd m16, cx", 2, a => a.@lock.xadd(__word_ptr[rbx], cx));
        yield return new("cmpxchg8b m64", 8, a => a.cmpxchg8b(__qword_ptr[rbx]));
        yield return new("bt m32, ecx", 4, a => a.bt(__dword_ptr[rbx], ecx));
        yield return new("bts m64, imm", 8, a => a.bts(__qword_ptr[rbx], 3));
        yield return new("pop m64", 8, a => a.pop(__qword_ptr[rbx]));
        yield return new("push m64", 8, a => a.push(__qword_ptr[rbx]));
        yield return new("movss xmm0, m32", 4, a => a.movss(xmm0, __dword_ptr[rbx]));
        yield return new("movsd xmm0, m64", 8, a => a.movsd(xmm0, __qword_ptr[rbx]));
        yield return new("movsd m64, xmm0", 8, a => a.movsd(__qword_ptr[rbx], xmm0));
        yield return new("addss xmm0, m32", 4, a => a.addss(xmm0, __dword_ptr[rbx]));
        yield return new("movq xmm0, m64", 8, a => a.movq(xmm0, __qword_ptr[rbx]));
        yield return new("movhps xmm0, m64", 8, a => a.movhps(xmm0, __qword_ptr[rbx]));
        yield return new("movups xmm0, m128", 16, a => a.movups(xmm0, __xmmword_ptr[rbx]));
        yield return new("movdqu m128, xmm0", 16, a => a.movdqu(__xmmword_ptr[rbx], xmm0));
        yield return new("stmxcsr m32", 4, a => a.stmxcsr(__dword_ptr[rbx]));
        yield return new("fld m80", 8, a => a.fld(__tword_ptr[rbx]));
        yield return new("fld m64", 8, a => a.fld(__qword_ptr[rbx]));
        yield return new("fild m16", 2, a => a.fild(__word_ptr[rbx]));
        yield return new("fnstcw m16", 2, a => a.fnstcw(__word_ptr[rbx]));
    }

    private static GuestMachine NewMachine()
    {
        var m = new GuestMachine();
        var pattern = new byte[64];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (byte)(0x11 * (i % 15 + 1));
        m.WriteBytes(X - 16, pattern);
        m.Regs.Rflags |= Ac;
        m.Regs.Rsp = GuestMachine.StackTop - 0x100;
        m.Regs.Rcx = 5;
        m.Regs.Rax = 0x0102_0304_0506_0708;
        m.Regs.Xmm[0] = 0x3FF0_0000_0000_0000; // 1.0
        m.Regs.Xmm[1] = 0xCAFE;
        return m;
    }

    /// <summary>The state an instruction must not change when it faults: GPRs, flags, XMM, x87, the data.</summary>
    private static string Snapshot(GuestMachine m)
    {
        var r = m.Regs;
        return string.Join(",", r.Gprs) + $"|{r.Rflags:x}|{r.Rip:x}|{string.Join(",", r.Xmm)}|{r.Fsw:x}|"
               + string.Join(",", r.FpMantissa) + "|" + Convert.ToHexString(m.ReadBytes(X - 16, 64))
               + Convert.ToHexString(m.ReadBytes(GuestMachine.StackTop - 0x140, 0x80));
    }

    private static void AssertAlignmentCheck(GuestMachine m, VcpuExit exit)
    {
        Assert.That(exit, Is.EqualTo(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.AlignmentCheck, 0, true)),
            $"exit at rip 0x{m.Regs.Rip:x}");
    }

    [TestCaseSource(nameof(Cases))]
    public void AMisalignedOperandFaultsWithNothingDoneAndAnAlignedOneRuns(Case c)
    {
        // Off by one byte, by half the alignment (still aligned for a smaller operand) and by alignment - 1.
        foreach (int offset in new[] { 1, c.Alignment / 2, c.Alignment - 1 }.Where(o => o > 0).Distinct())
        {
            using var m = NewMachine();
            m.Load(a => { c.Body(a); a.int3(); });
            m.Regs.Rbx = X + (ulong)offset;
            string before = Snapshot(m);
            AssertAlignmentCheck(m, m.Run());
            Assert.That(Snapshot(m), Is.EqualTo(before), $"offset {offset}: state unchanged, RIP at the instruction");
        }

        using (var m = NewMachine())
        {
            m.Load(a => { c.Body(a); a.int3(); });
            m.Regs.Rbx = X;
            m.RunToBreakpoint();
        }
    }

    [Test]
    public void AnX87StoreOfAnExtendedRealNeedsEightByteAlignmentAndStoresNothingWhenMisaligned()
    {
        using var m = NewMachine();
        m.Load(a => { a.fld1(); a.fstp(__tword_ptr[rbx]); a.int3(); });
        m.Regs.Rbx = X + 4;
        var data = m.ReadBytes(X, 16);
        AssertAlignmentCheck(m, m.Run());
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + 2), "RIP at the fstp, after the 2-byte fld1");
        Assert.That(m.ReadBytes(X, 16), Is.EqualTo(data), "nothing stored");
        m.Regs.Rbx = X + 8;
        m.RunToBreakpoint();
        Assert.That(m.ReadBytes(X + 8, 10), Is.EqualTo(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x3F }));
    }

    [TestCaseSource(nameof(Cases))]
    public void AMisalignedOperandDoesNotFaultWithAcClear(Case c)
    {
        using var m = NewMachine();
        m.Regs.Rflags &= ~Ac;
        m.Load(a => { c.Body(a); a.int3(); });
        m.Regs.Rbx = X + 1;
        m.RunToBreakpoint();
    }

    [Test]
    public void AMisalignedAccessDoesNotFaultWhenCr0AmIsClearOrAtCpl0()
    {
        using (var m = NewMachine())
        {
            m.Vcpu.AlignmentMask = false;
            m.Load(a => { a.mov(eax, __dword_ptr[rbx]); a.int3(); });
            m.Regs.Rbx = X + 1;
            m.RunToBreakpoint();
        }
        using (var m = NewMachine())
        {
            m.Regs.Cs = 0xe008; // FLAT_RING0_CS64: the check applies at CPL 3 only
            m.Load(a => { a.mov(eax, __dword_ptr[rbx]); a.int3(); });
            m.Regs.Rbx = X + 1;
            m.RunToBreakpoint();
        }
    }

    [Test]
    public void ByteAccessesLeaAndAlignedAccessesNeverFault()
    {
        using var m = NewMachine();
        m.Load(a =>
        {
            a.mov(al, __byte_ptr[rbx + 1]);
            a.mov(__byte_ptr[rbx + 3], cl);
            a.lea(rdx, __qword_ptr[rbx + 3]);
            a.mov(edx, __dword_ptr[rbx + 4]);
            a.mov(__qword_ptr[rbx + 8], rax);
            a.int3();
        });
        m.Regs.Rbx = X;
        m.RunToBreakpoint();
        Assert.That(m.ReadBytes(X + 3, 1)[0], Is.EqualTo(5));
    }

    [Test]
    public void AFaultedInstructionRestartsOnceAcIsCleared()
    {
        using var m = NewMachine();
        m.Load(a => { a.mov(__dword_ptr[rbx], eax); a.mov(ecx, 9); a.int3(); });
        m.Regs.Rbx = X + 2;
        AssertAlignmentCheck(m, m.Run());
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
        m.Regs.Rflags &= ~Ac;
        m.RunToBreakpoint();
        Assert.That(BitConverter.ToUInt32(m.ReadBytes(X + 2, 4)), Is.EqualTo(0x0506_0708u));
        Assert.That(m.Regs.Rcx, Is.EqualTo(9UL));
    }

    [Test]
    public void APushWithAMisalignedStackPointerFaultsWithRspUnchanged()
    {
        using var m = NewMachine();
        m.Load(a => { a.push(rax); a.int3(); });
        m.Regs.Rsp = GuestMachine.StackTop - 0x100 + 4;
        string before = Snapshot(m);
        AssertAlignmentCheck(m, m.Run());
        Assert.That(Snapshot(m), Is.EqualTo(before));

        // A call pushes a qword too; a 16-bit push needs only 2-byte alignment.
        using var m2 = NewMachine();
        m2.Load(a =>
        {
            var l = a.CreateLabel();
            a.push(ax); // 66 50: a word push
            a.call(l);
            a.Label(ref l);
            a.int3();
        });
        m2.Regs.Rsp = GuestMachine.StackTop - 0x100 + 4;
        var exit = m2.Run();
        AssertAlignmentCheck(m2, exit);
        Assert.That(m2.Regs.Rsp, Is.EqualTo(GuestMachine.StackTop - 0x100 + 2), "the word push landed; the call faults");
        Assert.That(m2.Regs.Rip, Is.Not.EqualTo(GuestMachine.CodeBase), "RIP at the call");
    }

    [Test]
    public void ARepMovswFaultsOnAMisalignedElementWithCountAndPointersUnchanged()
    {
        using var m = NewMachine();
        m.Load(a => { a.rep.movsw(); a.int3(); });
        m.Regs.Rsi = X;
        m.Regs.Rdi = X + 0x201;
        m.Regs.Rcx = 8;
        string before = Snapshot(m);
        var destination = m.ReadBytes(X + 0x201, 16);
        AssertAlignmentCheck(m, m.Run());
        Assert.That(Snapshot(m), Is.EqualTo(before));
        Assert.That(m.ReadBytes(X + 0x201, 16), Is.EqualTo(destination));

        // Aligned elements are copied in full (the host block path), still under AC.
        m.Regs.Rdi = X + 0x200;
        m.RunToBreakpoint();
        Assert.That(m.ReadBytes(X + 0x200, 16), Is.EqualTo(m.ReadBytes(X, 16)));
        Assert.That(m.Regs.Rcx, Is.Zero);
    }

    [Test]
    public void AlignmentCheckComesBeforeAPageFault()
    {
        using var m = NewMachine();
        m.Load(a => { a.mov(eax, __dword_ptr[rbx]); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase + 0x10_0001; // not mapped
        AssertAlignmentCheck(m, m.Run());
        m.Regs.Rbx = GuestMachine.DataBase + 0x10_0000;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
    }

    [Test]
    public void AMisalignedAccessStraddlingAPageFaults()
    {
        using var m = NewMachine();
        m.Load(a => { a.mov(__qword_ptr[rbx], rax); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase + 0xFFC;
        var after = m.ReadBytes(GuestMachine.DataBase + 0xFF8, 16);
        AssertAlignmentCheck(m, m.Run());
        Assert.That(m.ReadBytes(GuestMachine.DataBase + 0xFF8, 16), Is.EqualTo(after));
    }

    [Test]
    public void AlignedSseFormsRaiseGeneralProtectionBeforeAlignmentCheck()
    {
        using var m = NewMachine();
        m.Load(a => { a.movaps(xmm0, __xmmword_ptr[rbx]); a.int3(); });
        m.Regs.Rbx = X + 8;
        Assert.That(m.Run(), Is.EqualTo(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true)));
    }

    [Test]
    public void PopfSettingAcChecksTheNextInstructionAndClearingItStopsChecking()
    {
        using var m = NewMachine();
        m.Regs.Rflags &= ~Ac;
        m.Load(a =>
        {
            a.mov(edx, __dword_ptr[rbx + 1]); // AC clear: no check (and the page enters the TLB)
            a.pushfq();
            a.or(__qword_ptr[rsp], (int)Ac);
            a.popfq();
            a.mov(edx, __dword_ptr[rbx + 1]);
            a.int3();
        });
        m.Regs.Rbx = X;
        AssertAlignmentCheck(m, m.Run());
        Assert.That(m.Regs.Rflags & Ac, Is.EqualTo(Ac));

        using var m2 = NewMachine();
        m2.Load(a =>
        {
            a.mov(edx, __dword_ptr[rbx]);
            a.pushfq();
            a.and(__qword_ptr[rsp], ~(int)Ac);
            a.popfq();
            a.mov(edx, __dword_ptr[rbx + 1]);
            a.mov(ecx, __dword_ptr[rbx + 3]);
            a.int3();
        });
        m2.Regs.Rbx = X;
        m2.RunToBreakpoint();
        Assert.That(m2.Regs.Rflags & Ac, Is.Zero);
    }

    [Test]
    public void A16BitPopfCannotSetAc()
    {
        using var m = NewMachine();
        m.Regs.Rflags &= ~Ac;
        m.Load(a =>
        {
            a.pushfq();
            a.or(__qword_ptr[rsp], (int)Ac);
            a.popf(); // 66 9D: loads FLAGS only, bit 18 is out of reach
            a.add(rsp, 6);
            a.mov(edx, __dword_ptr[rbx + 1]);
            a.int3();
        });
        m.Regs.Rbx = X;
        m.RunToBreakpoint();
    }
}
