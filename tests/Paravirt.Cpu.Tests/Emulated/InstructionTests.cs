using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>Semantics of the general-purpose instructions gcc emits for kernel C code.</summary>
public class InstructionTests
{
    private static GuestMachine Run(Action<Assembler> build, Action<GuestMachine>? setup = null)
    {
        var m = new GuestMachine();
        m.Load(a => { build(a); a.int3(); });
        setup?.Invoke(m);
        m.RunToBreakpoint();
        return m;
    }

    [Test]
    public void ThirtyTwoBitWritesZeroExtendAndNarrowWritesMerge()
    {
        using var m = Run(a => { a.mov(eax, 0x1234_5678); a.mov(bx, 0xAAAA); a.mov(cl, 0x55); a.mov(dh, 0x77); },
            m => { m.Regs.Rax = ulong.MaxValue; m.Regs.Rbx = ulong.MaxValue; m.Regs.Rcx = ulong.MaxValue; m.Regs.Rdx = 0; });
        Assert.That(m.Regs.Rax, Is.EqualTo(0x1234_5678UL));
        Assert.That(m.Regs.Rbx, Is.EqualTo(0xFFFF_FFFF_FFFF_AAAAUL));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0xFFFF_FFFF_FFFF_FF55UL));
        Assert.That(m.Regs.Rdx, Is.EqualTo(0x7700UL));
    }

    [Test]
    public void ExtendingMovesSignAndZeroExtend()
    {
        using var m = Run(a => { a.movzx(eax, bl); a.movsx(rcx, bl); a.movsxd(rdx, esi); a.movsx(di, bl); },
            m => { m.Regs.Rbx = 0x80; m.Regs.Rsi = 0xFFFF_FFFE; m.Regs.Rdi = 0x1111_0000; });
        Assert.That(m.Regs.Rax, Is.EqualTo(0x80UL));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0xFFFF_FFFF_FFFF_FF80UL));
        Assert.That(m.Regs.Rdx, Is.EqualTo(0xFFFF_FFFF_FFFF_FFFEUL));
        Assert.That(m.Regs.Rdi, Is.EqualTo(0x1111_FF80UL));
    }

    [Test]
    public void LeaComputesAllAddressingModes()
    {
        using var m = new GuestMachine();
        var bytes = m.Load(a =>
        {
            var next = a.CreateLabel();
            a.lea(rax, __[rbx + rcx * 8 + 0x10]); a.lea(edx, __[rbx - 1]); a.lea(rsi, __[next]);
            a.Label(ref next);
            a.int3();
        });
        (m.Regs.Rbx, m.Regs.Rcx) = (0x1_0000_0000, 3);
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0x1_0000_0028UL));
        Assert.That(m.Regs.Rdx, Is.EqualTo(0xFFFF_FFFFUL), "32-bit lea truncates");
        Assert.That(m.Regs.Rsi, Is.EqualTo(GuestMachine.CodeBase + (ulong)bytes.Length - 1), "RIP-relative");
    }

    [Test]
    public void RipRelativeLoadReadsDataAfterTheCode()
    {
        using var m = new GuestMachine();
        m.Load(a =>
        {
            var data = a.CreateLabel();
            a.mov(rax, __[data]);
            a.int3();
            a.Label(ref data);
            a.dq(0x0123_4567_89AB_CDEF);
        });
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0x0123_4567_89AB_CDEFUL));
    }

    [Test]
    public void FsAndGsOverridesAddTheSegmentBase()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase + 0x100, 11);
        m.WriteU64(GuestMachine.DataBase + 0x200, 22);
        m.Load(a => { a.mov(rax, __qword_ptr.fs[0x100]); a.mov(rbx, __qword_ptr.gs[rcx + 0x10]); a.int3(); });
        m.Regs.FsBase = GuestMachine.DataBase;
        m.Regs.GsBase = GuestMachine.DataBase + 0x100;
        m.Regs.Rcx = 0xF0;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.Regs.Rbx), Is.EqualTo((11UL, 22UL)));
    }

    [Test]
    public void CallAndRetUseTheStack()
    {
        using var m = new GuestMachine();
        m.Load(a =>
        {
            var f = a.CreateLabel();
            var g = a.CreateLabel();
            a.push(0x55); // an argument that f's "ret 8" pops
            a.call(f);
            a.int3();
            a.Label(ref f);
            a.mov(eax, 1);
            a.lea(rbx, __[g]);
            a.call(rbx);
            a.ret(8);
            a.Label(ref g);
            a.add(eax, 2);
            a.ret();
        });
        m.Regs.Rsp = GuestMachine.StackTop - 64;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(3UL));
        Assert.That(m.Regs.Rsp, Is.EqualTo(GuestMachine.StackTop - 64));
    }

    [Test]
    public void PushPopAndPopIntoRspRelativeMemory()
    {
        using var m = Run(a => { a.push(rax); a.push(-2); a.pop(rbx); a.pop(__qword_ptr[rsp + 8]); a.pop(rcx); a.pop(rdx); },
            m => { m.Regs.Rax = 0x99; m.Regs.Rsp = GuestMachine.StackTop - 64; m.WriteU64(GuestMachine.StackTop - 64, 0x77); });
        Assert.That(m.Regs.Rbx, Is.EqualTo(unchecked((ulong)-2L)));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0x77UL));
        Assert.That(m.Regs.Rdx, Is.EqualTo(0x99UL), "pop [rsp+8] addresses the stack after the increment");
    }

    [Test]
    public void EnterAndLeaveBuildAndTearDownFrames()
    {
        using var m = Run(a => { a.enter(32, 0); a.mov(rax, rsp); a.mov(rcx, rbp); a.leave(); },
            m => { m.Regs.Rsp = GuestMachine.StackTop - 64; m.Regs.Rbp = 0x5555; });
        ulong frame = GuestMachine.StackTop - 72;
        Assert.That(m.Regs.Rcx, Is.EqualTo(frame));
        Assert.That(m.Regs.Rax, Is.EqualTo(frame - 32));
        Assert.That((m.Regs.Rsp, m.Regs.Rbp), Is.EqualTo((GuestMachine.StackTop - 64, 0x5555UL)));
    }

    [Test]
    public void ConditionalBranchesFollowFlags()
    {
        // Signed and unsigned compare of -1 with 1: jl taken, jb not taken.
        using var m = Run(a =>
        {
            var l1 = a.CreateLabel(); var l2 = a.CreateLabel();
            a.mov(rax, -1); a.cmp(rax, 1);
            a.jl(l1); a.mov(ebx, 1); a.Label(ref l1);
            a.jb(l2); a.mov(ecx, 1); a.Label(ref l2);
        });
        Assert.That((m.Regs.Rbx, m.Regs.Rcx), Is.EqualTo((0UL, 1UL)));
    }

    [Test]
    public void SetccAndCmovccWithThirtyTwoBitCmovZeroExtending()
    {
        using var m = Run(a => { a.cmp(eax, eax); a.sete(bl); a.setne(bh); a.cmovne(ecx, edx); a.cmove(rsi, rdx); },
            m => { m.Regs.Rbx = 0xFFFF; m.Regs.Rcx = ulong.MaxValue; m.Regs.Rdx = 0x42; });
        Assert.That(m.Regs.Rbx, Is.EqualTo(0x0001UL));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0xFFFF_FFFFUL), "a false 32-bit cmov still zero-extends");
        Assert.That(m.Regs.Rsi, Is.EqualTo(0x42UL));
    }

    [Test]
    public void LoopAndJrcxzCountThroughRcx()
    {
        using var m = Run(a =>
        {
            var top = a.CreateLabel(); var done = a.CreateLabel();
            a.mov(ecx, 5); a.xor(eax, eax);
            a.Label(ref top); a.add(eax, 2); a.loop(top);
            a.jrcxz(done); a.mov(ebx, 1); a.Label(ref done);
        });
        Assert.That((m.Regs.Rax, m.Regs.Rcx, m.Regs.Rbx), Is.EqualTo((10UL, 0UL, 0UL)));
    }

    [Test]
    public void SignExtensionFamily()
    {
        using var m = Run(a => { a.mov(eax, 0x80); a.cbw(); a.mov(r8, rax); a.cwde(); a.mov(r9, rax); a.cdqe(); a.cqo(); },
            m => m.Regs.Rdx = 5);
        Assert.That(m.Regs.R8, Is.EqualTo(0xFF80UL));
        Assert.That(m.Regs.R9, Is.EqualTo(0xFFFF_FF80UL));
        Assert.That(m.Regs.Rax, Is.EqualTo(ulong.MaxValue - 0x7F));
        Assert.That(m.Regs.Rdx, Is.EqualTo(ulong.MaxValue));
    }

    [TestCase(false, 100UL, 0UL, 7UL, 14UL, 2UL)]
    [TestCase(true, unchecked((ulong)-100L), ulong.MaxValue, 7UL, unchecked((ulong)-14L), unchecked((ulong)-2L))]
    public void DivideProducesQuotientAndRemainder(bool signed, ulong rax, ulong rdx, ulong divisor, ulong q, ulong r)
    {
        using var m = Run(a => { if (signed) a.idiv(rbx); else a.div(rbx); },
            m => { m.Regs.Rax = rax; m.Regs.Rdx = rdx; m.Regs.Rbx = divisor; });
        Assert.That((m.Regs.Rax, m.Regs.Rdx), Is.EqualTo((q, r)));
    }

    [Test]
    public void ByteDivideUsesAxAndSplitsIntoAlAh()
    {
        using var m = Run(a => a.div(bl), m => { m.Regs.Rax = 0x0107; m.Regs.Rbx = 0x10; }); // 263 / 16 = 16 r 7
        Assert.That(m.Regs.Rax, Is.EqualTo(0x0710UL));
    }

    [Test]
    public void BitScansAndCounts()
    {
        using var m = Run(a =>
        {
            a.bsf(rax, rbx); a.bsr(rcx, rbx); a.popcnt(rdx, rbx); a.lzcnt(rsi, rbx); a.tzcnt(rdi, rbx);
            a.tzcnt(r8d, r9d); // zero source: operand size, CF = 1
        }, m => { m.Regs.Rbx = 0x0000_0100_0000_0010; });
        Assert.That((m.Regs.Rax, m.Regs.Rcx, m.Regs.Rdx, m.Regs.Rsi, m.Regs.Rdi, m.Regs.R8),
            Is.EqualTo((4UL, 40UL, 2UL, 23UL, 4UL, 32UL)));
        Assert.That(m.Regs.Rflags & 1, Is.EqualTo(1UL));
    }

    [Test]
    public void BsfOfZeroSetsZfAndLeavesTheDestination()
    {
        using var m = Run(a => a.bsf(rax, rbx), m => m.Regs.Rax = 0x1234);
        Assert.That(m.Regs.Rax, Is.EqualTo(0x1234UL));
        Assert.That(m.Regs.Rflags & 0x40, Is.EqualTo(0x40UL));
    }

    [Test]
    public void BswapReversesBytes()
    {
        using var m = Run(a => { a.bswap(rax); a.bswap(ebx); },
            m => { m.Regs.Rax = 0x0102_0304_0506_0708; m.Regs.Rbx = 0xFFFF_FFFF_1122_3344; });
        Assert.That((m.Regs.Rax, m.Regs.Rbx), Is.EqualTo((0x0807_0605_0403_0201UL, 0x4433_2211UL)));
    }

    [Test]
    public void BitTestOnMemoryWithNegativeRegisterOffsetAddressesBelow()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase + 0x100, 0);
        m.Load(a => { a.bts(__qword_ptr[rbx], rcx); a.setc(dl); a.bt(__qword_ptr[rbx], rcx); a.setc(dh); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase + 0x108;
        m.Regs.Rcx = unchecked((ulong)-63L); // bit 1 of the qword at rbx - 8
        m.RunToBreakpoint();
        Assert.That(m.ReadU64(GuestMachine.DataBase + 0x100), Is.EqualTo(2UL));
        Assert.That(m.Regs.Rdx & 0xFFFF, Is.EqualTo(0x0100UL), "bts saw 0, bt then saw 1");
    }

    [Test]
    public void BitTestComplementAndResetOnRegisters()
    {
        using var m = Run(a => { a.btc(eax, 31); a.btr(rbx, 0); a.bts(cx, 17); },
            m => { m.Regs.Rax = 0x8000_0000; m.Regs.Rbx = 3; m.Regs.Rcx = 0; });
        Assert.That((m.Regs.Rax, m.Regs.Rbx, m.Regs.Rcx), Is.EqualTo((0UL, 2UL, 2UL)));
        Assert.That(m.Regs.Rflags & 1, Is.Zero, "CF = old bit 1 of cx");
    }

    [Test]
    public void CmpxchgSwapsOnMatchAndLoadsAccumulatorOtherwise()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase, 5);
        m.Load(a =>
        {
            a.mov(eax, 5); a.mov(ecx, 9); a.@lock.cmpxchg(__qword_ptr[rbx], rcx); a.setz(r8b);
            a.mov(eax, 5); a.@lock.cmpxchg(__qword_ptr[rbx], rcx); a.setz(r9b);
            a.int3();
        });
        m.Regs.Rbx = GuestMachine.DataBase;
        m.RunToBreakpoint();
        Assert.That(m.ReadU64(GuestMachine.DataBase), Is.EqualTo(9UL));
        Assert.That((m.Regs.R8, m.Regs.R9, m.Regs.Rax), Is.EqualTo((1UL, 0UL, 9UL)));
    }

    [Test]
    public void XaddAndXchgReturnTheOldValue()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase, 40);
        m.Load(a => { a.mov(ecx, 2); a.@lock.xadd(__qword_ptr[rbx], rcx); a.mov(edx, 7); a.xchg(__qword_ptr[rbx], rdx); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.Regs.Rdx), Is.EqualTo((40UL, 42UL)));
        Assert.That(m.ReadU64(GuestMachine.DataBase), Is.EqualTo(7UL));
    }

    [Test]
    public void Cmpxchg16bComparesAndSwapsSixteenBytes()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase, 1);
        m.WriteU64(GuestMachine.DataBase + 8, 2);
        m.Load(a => { a.@lock.cmpxchg16b(__xmmword_ptr[rsi]); a.int3(); });
        m.Regs.Rsi = GuestMachine.DataBase;
        (m.Regs.Rax, m.Regs.Rdx, m.Regs.Rbx, m.Regs.Rcx) = (1, 2, 3, 4);
        m.RunToBreakpoint();
        Assert.That((m.ReadU64(GuestMachine.DataBase), m.ReadU64(GuestMachine.DataBase + 8)), Is.EqualTo((3UL, 4UL)));
        Assert.That(m.Regs.Rflags & 0x40, Is.EqualTo(0x40UL));
    }

    [Test]
    public void LockedIncrementsFromTwoVcpusAreAtomic()
    {
        using var m = new GuestMachine();
        const int perVcpu = 200_000;
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, perVcpu);
            a.Label(ref top);
            a.@lock.inc(__qword_ptr[rbx]);
            a.dec(ecx);
            a.jnz(top);
            a.int3();
        });
        using var second = m.Platform.CreateEmulatedVcpu(m.Memory);
        foreach (var r in new[] { m.Regs, second.Registers })
        {
            r.Cr3 = m.Regs.Cr3; r.Cs = GuestMachine.UserCs; r.Rip = GuestMachine.CodeBase; r.Rbx = GuestMachine.DataBase;
        }
        VcpuExit other = default;
        var t = new Thread(() => other = second.Run());
        t.Start();
        var mine = m.Run();
        t.Join();
        Assert.That((mine.Vector, other.Vector), Is.EqualTo((ExceptionVector.Breakpoint, ExceptionVector.Breakpoint)));
        Assert.That(m.ReadU64(GuestMachine.DataBase), Is.EqualTo(2UL * perVcpu));
    }

    [Test]
    public void RepMovsbCopiesAndAdvances()
    {
        using var m = new GuestMachine();
        var text = "hello, paravirtual world"u8.ToArray();
        m.WriteBytes(GuestMachine.DataBase, text);
        m.Load(a => { a.rep.movsb(); a.int3(); });
        (m.Regs.Rsi, m.Regs.Rdi, m.Regs.Rcx) = (GuestMachine.DataBase, GuestMachine.DataBase + 0x1000 - 5, (ulong)text.Length);
        m.RunToBreakpoint();
        Assert.That(m.ReadBytes(GuestMachine.DataBase + 0x1000 - 5, text.Length), Is.EqualTo(text)); // across a page
        Assert.That((m.Regs.Rcx, m.Regs.Rsi), Is.EqualTo((0UL, GuestMachine.DataBase + (ulong)text.Length)));
    }

    [Test]
    public void RepMovsbWithOverlapForwardReplicatesAPattern()
    {
        using var m = new GuestMachine();
        m.WriteBytes(GuestMachine.DataBase, [1, 2]);
        m.Load(a => { a.rep.movsb(); a.int3(); });
        (m.Regs.Rsi, m.Regs.Rdi, m.Regs.Rcx) = (GuestMachine.DataBase, GuestMachine.DataBase + 2, 8UL);
        m.RunToBreakpoint();
        Assert.That(m.ReadBytes(GuestMachine.DataBase, 10), Is.EqualTo(new byte[] { 1, 2, 1, 2, 1, 2, 1, 2, 1, 2 }));
    }

    [Test]
    public void RepStosqBackwardsWithDirectionFlag()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.std(); a.rep.stosq(); a.cld(); a.int3(); });
        (m.Regs.Rax, m.Regs.Rdi, m.Regs.Rcx) = (0xAB, GuestMachine.DataBase + 16, 3UL);
        m.RunToBreakpoint();
        Assert.That(new[] { m.ReadU64(GuestMachine.DataBase), m.ReadU64(GuestMachine.DataBase + 8), m.ReadU64(GuestMachine.DataBase + 16) },
            Is.All.EqualTo(0xABUL));
        Assert.That(m.Regs.Rdi, Is.EqualTo(GuestMachine.DataBase - 8));
    }

    [Test]
    public void RepneScasbFindsTheTerminator()
    {
        using var m = new GuestMachine();
        m.WriteBytes(GuestMachine.DataBase, "kernel\0"u8);
        // The classic strlen: rcx = -1; repne scasb; not rcx; dec rcx.
        m.Load(a => { a.xor(eax, eax); a.mov(rcx, -1); a.repne.scasb(); a.not(rcx); a.dec(rcx); a.int3(); });
        m.Regs.Rdi = GuestMachine.DataBase;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rcx, Is.EqualTo(6UL));
    }

    [Test]
    public void RepeCmpsbStopsAtTheFirstDifference()
    {
        using var m = new GuestMachine();
        m.WriteBytes(GuestMachine.DataBase, "abcX"u8);
        m.WriteBytes(GuestMachine.DataBase + 0x100, "abcY"u8);
        m.Load(a => { a.repe.cmpsb(); a.int3(); });
        (m.Regs.Rsi, m.Regs.Rdi, m.Regs.Rcx) = (GuestMachine.DataBase, GuestMachine.DataBase + 0x100, 4UL);
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rcx, Is.Zero);
        Assert.That(m.Regs.Rsi, Is.EqualTo(GuestMachine.DataBase + 4));
        Assert.That(m.Regs.Rflags & 0x41, Is.EqualTo(0x1UL), "X < Y: ZF clear, CF set");
    }

    [Test]
    public void LodsLoadsTheAccumulator()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase, 0x1122_3344);
        m.Load(a => { a.lodsd(); a.int3(); });
        (m.Regs.Rsi, m.Regs.Rax) = (GuestMachine.DataBase, ulong.MaxValue);
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.Regs.Rsi), Is.EqualTo((0x1122_3344UL, GuestMachine.DataBase + 4)));
    }

    [Test]
    public void RepStringFaultLeavesProgressRestartable()
    {
        using var m = new GuestMachine();
        ulong end = GuestMachine.DataBase + 4 * 4096; // unmapped after the data region
        m.Load(a => { a.rep.stosb(); a.int3(); });
        (m.Regs.Rax, m.Regs.Rdi, m.Regs.Rcx) = (0xEE, end - 3, 10UL);
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That((m.Regs.Rdi, m.Regs.Rcx, m.Regs.Rip), Is.EqualTo((end, 7UL, GuestMachine.CodeBase)));
        m.Map(end, m.AllocFrame(), GuestMachine.P | GuestMachine.RW | GuestMachine.US);
        m.RunToBreakpoint();
        Assert.That(m.ReadBytes(end - 3, 10), Is.All.EqualTo(0xEE));
    }

    [Test]
    public void LahfSahfAndFlagInstructions()
    {
        using var m = Run(a => { a.stc(); a.cmc(); a.cmc(); a.lahf(); a.mov(bl, ah); a.mov(ah, 0xD5); a.sahf(); a.pushfq(); a.pop(rcx); });
        Assert.That(m.Regs.Rbx & 0xFF, Is.EqualTo(0x03UL)); // CF and the fixed bit 1
        Assert.That(m.Regs.Rcx & 0xD5, Is.EqualTo(0xD5UL));
    }

    [Test]
    public void SelfModifyingCodeInTheSameBlockIsSeen()
    {
        using var m = new GuestMachine();
        ulong code = GuestMachine.DataBase; // a writable, executable page
        m.Map(code, m.AllocFrame(), GuestMachine.P | GuestMachine.RW | GuestMachine.US);
        // mov byte [rip+patch+1], 42; patch: mov eax, 1 -> becomes mov eax, 42
        m.Load(a =>
        {
            var patch = a.CreateLabel();
            a.lea(rdx, __[patch]);
            a.mov(__byte_ptr[rdx + 1], 42);
            a.Label(ref patch);
            a.mov(eax, 1);
            a.int3();
        }, code);
        m.Regs.Rip = code;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(42UL));
    }

    [Test]
    public void CodeRewrittenByTheHypervisorIsSeenOnTheNextRun()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(eax, 1); a.int3(); });
        m.RunToBreakpoint();
        m.Load(a => { a.mov(eax, 2); a.int3(); });
        m.Regs.Rip = GuestMachine.CodeBase;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(2UL));
    }

    [Test]
    public void CodeRewrittenByAnotherPageIsSeenWhenReached()
    {
        using var m = new GuestMachine();
        ulong code = GuestMachine.DataBase;
        m.Map(code, m.AllocFrame(), GuestMachine.P | GuestMachine.RW | GuestMachine.US);
        m.Load(a => { a.mov(eax, 1); a.ret(); }, code);
        // Call the routine (caching it), patch its immediate, call again.
        m.Load(a => { a.call(rbx); a.mov(ecx, eax); a.mov(__byte_ptr[rbx + 1], 7); a.call(rbx); a.int3(); });
        m.Regs.Rbx = code;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rcx, m.Regs.Rax), Is.EqualTo((1UL, 7UL)));
    }

    [Test]
    public void ShiftOfMemoryOperandWritesBack()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase, 0x81);
        m.Load(a => { a.shl(__byte_ptr[rbx], 1); a.sar(__dword_ptr[rbx + 8], 4); a.int3(); });
        m.WriteU64(GuestMachine.DataBase + 8, 0x8000_0000);
        m.Regs.Rbx = GuestMachine.DataBase;
        m.RunToBreakpoint();
        Assert.That(m.ReadU64(GuestMachine.DataBase), Is.EqualTo(0x02UL));
        Assert.That(m.ReadU64(GuestMachine.DataBase + 8), Is.EqualTo(0xF800_0000UL));
    }

    [Test]
    public void IretqToTheSamePrivilegeLevelReturns()
    {
        using var m = new GuestMachine();
        m.Load(a =>
        {
            var target = a.CreateLabel();
            a.mov(rcx, rsp);
            a.push(GuestMachine.UserSs); a.push(rcx); a.pushfq(); a.push(GuestMachine.UserCs);
            a.lea(rax, __[target]); a.push(rax);
            a.iretq();
            a.Label(ref target);
            a.mov(ebx, 1);
            a.int3();
        });
        m.Regs.Rsp = GuestMachine.StackTop - 64;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rbx, m.Regs.Rsp), Is.EqualTo((1UL, GuestMachine.StackTop - 64)));
    }

    [Test]
    public void IretqToAMorePrivilegedLevelRaisesGeneralProtection()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.push(0); a.push(rsp); a.pushfq(); a.push(0xe008); a.push(0); a.iretq(); });
        m.Regs.Rsp = GuestMachine.StackTop - 64;
        var exit = m.Run();
        Assert.That((exit.Vector, exit.ErrorCode), Is.EqualTo((ExceptionVector.GeneralProtection, 0xe008u)));
    }

    [Test]
    public void LockedDecrementSetsZeroFlagForDecAndTest()
    {
        using var m = new GuestMachine();
        m.WriteU64(GuestMachine.DataBase, 2);
        m.Load(a => { a.@lock.dec(__dword_ptr[rdi]); a.sete(al); a.@lock.dec(__dword_ptr[rdi]); a.sete(bl); a.int3(); });
        m.Regs.Rdi = GuestMachine.DataBase;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax & 0xFF, m.Regs.Rbx & 0xFF), Is.EqualTo((0UL, 1UL)));
        Assert.That(m.ReadU64(GuestMachine.DataBase), Is.Zero);
    }

    [Test]
    public void LockedAddOnAReadOnlyPageFaultsAsAWrite()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.@lock.add(__qword_ptr[rbx], 1); a.int3(); });
        m.Regs.Rbx = GuestMachine.CodeBase; // read-only
        var exit = m.Run();
        Assert.That(exit.ErrorCode, Is.EqualTo((uint)(PageFaultError.Present | PageFaultError.Write | PageFaultError.User)));
    }

    private static readonly Action<Assembler>[] NoEffectInstructions =
    [
        a => a.nop(),
        a => a.nop(__dword_ptr[rax + rax * 1 + 0]), // the multi-byte nop gcc pads with
        a => a.pause(),
        a => a.lfence(),
        a => a.mfence(),
        a => a.sfence(),
        a => a.endbr64(),
        a => a.prefetcht0(__byte_ptr[rbx]),
        a => a.xchg(rax, rax),
    ];

    private static IEnumerable<int> NoEffectCases() => Enumerable.Range(0, NoEffectInstructions.Length);

    [TestCaseSource(nameof(NoEffectCases))]
    public void HintsFencesAndNopsChangeNothing(int index)
    {
        using var m = Run(a => NoEffectInstructions[index](a), m => { m.Regs.Rax = 0x1234; m.Regs.Rbx = 0xdead_0000_0000; });
        Assert.That((m.Regs.Rax, m.Regs.Rbx, m.Regs.Rflags), Is.EqualTo((0x1234UL, 0xdead_0000_0000UL, 2UL)));
    }

    [Test]
    public void RdtscpReportsTscAuxInEcx()
    {
        using var m = new GuestMachine();
        m.Vcpu.TscAux = 3;
        m.Load(a => { a.rdtscp(); a.int3(); });
        m.Regs.Rcx = ulong.MaxValue;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rcx, Is.EqualTo(3UL));
    }

    [Test]
    public void LoopneStopsWhenZeroFlagIsSet()
    {
        // Count down from 10 but stop when eax reaches 3 (cmp sets ZF).
        using var m = Run(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 10); a.mov(eax, 7);
            a.Label(ref top); a.dec(eax); a.cmp(eax, 3); a.loopne(top);
        });
        Assert.That((m.Regs.Rax, m.Regs.Rcx), Is.EqualTo((3UL, 6UL)));
    }

    [Test]
    public void NullSelectorLoadsIntoDataSegmentsSucceedAndClearFsGsBase()
    {
        using var m = Run(a => { a.xor(eax, eax); a.mov(ds, ax); a.mov(fs, ax); a.push(3); a.pop(gs); a.mov(ebx, gs); },
            m => { m.Regs.Ds = 0xe02b; m.Regs.FsBase = 0x1000; m.Regs.GsBase = 0x2000; });
        Assert.That((m.Regs.Ds, m.Regs.Fs, m.Regs.Gs), Is.EqualTo(((ushort)0, (ushort)0, (ushort)3)));
        Assert.That((m.Regs.FsBase, m.Regs.GsBase, m.Regs.Rbx), Is.EqualTo((0UL, 0UL, 3UL)));
    }

    [Test]
    public void NonNullSelectorLoadRaisesGeneralProtectionWithTheSelector()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(ax, 0xe02b); a.mov(es, ax); a.int3(); });
        var exit = m.Run();
        Assert.That((exit.Vector, exit.ErrorCode), Is.EqualTo((ExceptionVector.GeneralProtection, 0xe028u)));
        Assert.That(m.Regs.Es, Is.Zero);
    }
}
