using System.Text;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// #AC against the host CPU: curated instructions run with EFLAGS.AC set at CPL 3 (Linux user mode has CR0.AM
/// set, so a misaligned access there is #AC, delivered as SIGBUS/BUS_ADRALN and reported by the native runner as
/// vector 17) at aligned and misaligned addresses, and the emulator must end the same way with the same state.
/// </summary>
public class AlignmentCheckDifferentialTests : HostDifferentialFixture
{
    private const ulong Ac = 1UL << 18;
    /// <summary>16-byte aligned, well inside the sandbox.</summary>
    private const ulong Data = MachineState.SandboxVa + 0x1000;
    private const ulong GuardPage = MachineState.SandboxVa + MachineState.SandboxSize;

    /// <summary>Instructions addressing memory through RBX (and, for the stack cases, a misaligned RSP = RBX).</summary>
    private static readonly (string Name, Action<Assembler> Body)[] Programs =
    [
        ("mov ax, m16", a => a.mov(ax, __word_ptr[rbx])),
        ("mov eax, m32", a => a.mov(eax, __dword_ptr[rbx])),
        ("mov rax, m64", a => a.mov(rax, __qword_ptr[rbx])),
        ("mov m32, ecx", a => a.mov(__dword_ptr[rbx], ecx)),
        ("mov m8, cl", a => a.mov(__byte_ptr[rbx], cl)),
        ("movsx rax, m16", a => a.movsx(rax, __word_ptr[rbx])),
        ("add m64, rcx", a => a.add(__qword_ptr[rbx], rcx)),
        ("inc m16", a => a.inc(__word_ptr[rbx])),
        ("lock or m32, ecx", a => a.@lock.or(__dword_ptr[rbx], ecx)),
        ("xchg m32, eax", a => a.xchg(__dword_ptr[rbx], eax)),
        ("lock cmpxchg m64, rcx", a => a.@lock.cmpxchg(__qword_ptr[rbx], rcx)),
        ("cmpxchg8b", a => a.@lock.cmpxchg8b(__qword_ptr[rbx])),
        ("cmpxchg16b", a => a.@lock.cmpxchg16b(__xmmword_ptr[rbx])),
        ("bt m16, cx", a => a.bt(__word_ptr[rbx], cx)),
        ("btc m32, imm", a => a.btc(__dword_ptr[rbx], 5)),
        ("cmovz eax, m32 (false)", a => { a.test(rsp, rsp); a.cmovz(eax, __dword_ptr[rbx]); }),
        ("push m64", a => a.push(__qword_ptr[rbx])),
        ("pop m64", a => a.pop(__qword_ptr[rbx])),
        ("push rax at rsp = rbx", a => { a.mov(rsp, rbx); a.push(rax); }),
        ("push ax at rsp = rbx", a => { a.mov(rsp, rbx); a.push(ax); }),
        ("pop rcx at rsp = rbx", a => { a.mov(rsp, rbx); a.pop(rcx); }),
        ("call at rsp = rbx", a => { var l = a.CreateLabel(); a.mov(rsp, rbx); a.call(l); a.Label(ref l); a.nop(); }),
        ("rep movsw", a => { a.mov(rdi, rbx); a.lea(rsi, __[rbx + 0x100]); a.mov(ecx, 5); a.rep.movsw(); }),
        ("rep stosd", a => { a.mov(rdi, rbx); a.mov(ecx, 300); a.rep.stosd(); }),
        ("rep movsq", a => { a.lea(rdi, __[rbx + 0x800]); a.mov(rsi, rbx); a.mov(ecx, 600); a.rep.movsq(); }),
        ("lodsw", a => { a.mov(rsi, rbx); a.lodsw(); }),
        ("movss xmm1, m32", a => a.movss(xmm1, __dword_ptr[rbx])),
        ("movsd m64, xmm1", a => a.movsd(__qword_ptr[rbx], xmm1)),
        ("mulsd xmm1, m64", a => a.mulsd(xmm1, __qword_ptr[rbx])),
        ("movd xmm2, m32", a => a.movd(xmm2, __dword_ptr[rbx])),
        ("movlps m64, xmm1", a => a.movlps(__qword_ptr[rbx], xmm1)),
        ("movups xmm3, m128", a => a.movups(xmm3, __xmmword_ptr[rbx])),
        ("movdqu m128, xmm1", a => a.movdqu(__xmmword_ptr[rbx], xmm1)),
        ("movaps xmm3, m128", a => a.movaps(xmm3, __xmmword_ptr[rbx])),
        ("paddd xmm1, m128", a => a.paddd(xmm1, __xmmword_ptr[rbx])),
        ("stmxcsr / ldmxcsr", a => { a.stmxcsr(__dword_ptr[rbx]); a.ldmxcsr(__dword_ptr[rbx]); }),
        ("fld m80", a => a.fld(__tword_ptr[rbx])),
        ("fld1; fstp m80", a => { a.fld1(); a.fstp(__tword_ptr[rbx]); }),
        ("fld m32", a => a.fld(__dword_ptr[rbx])),
        ("fild m16", a => a.fild(__word_ptr[rbx])),
        ("fldz; fistp m64", a => { a.fldz(); a.fistp(__qword_ptr[rbx]); }),
        ("fnstcw / fldcw", a => { a.fnstcw(__word_ptr[rbx]); a.fldcw(__word_ptr[rbx]); }),
        ("fnstsw m16", a => a.fnstsw(__word_ptr[rbx])),
        // Misaligned only (below): the aligned image differs in fields the emulator does not model (docs/cpu.md).
        ("fxsave64", a => a.fxsave64(__[rbx])),
        ("fxrstor64", a => a.fxrstor64(__[rbx])),
        ("lea / prefetch", a => { a.lea(rax, __[rbx + 1]); a.prefetcht0(__byte_ptr[rbx]); }),
        ("jmp m64", a => { var l = a.CreateLabel(); a.lea(rax, __[l]); a.mov(__qword_ptr[rbx], rax); a.jmp(__qword_ptr[rbx]); a.Label(ref l); a.nop(); }),
    ];

    private static byte[] Assemble(Action<Assembler> body)
    {
        var asm = new Assembler(64);
        body(asm);
        var ms = new MemoryStream();
        asm.Assemble(new StreamCodeWriter(ms), MachineState.CodeVa);
        return ms.ToArray();
    }

    private static MachineState State(ulong rbx, bool ac)
    {
        var s = MachineState.Initial();
        var rng = new Random((int)(rbx & 0xFFFF));
        rng.NextBytes(s.Sandbox);
        s.Rflags = 0x2 | (ac ? Ac : 0);
        s.Gpr[0] = 0x1122_3344_5566_7788;
        s.Gpr[1] = 0x0000_0000_0000_0021;
        s.Gpr[3] = rbx;
        s.SetXmm(2, 0x3FF8_0000_0000_0000);
        s.SetXmm(3, 0x4000_0000_0000_0000);
        return s;
    }

    private string? Compare(MachineState start, byte[] code)
    {
        var hw = start.Clone();
        var emu = start.Clone();
        Hardware.Run(hw, code);
        Emulator.Run(emu, code);
        return StateComparer.Difference(hw, emu, 0);
    }

    [Test]
    public void AlignedAndMisalignedAccessesWithAcSetEndAsOnTheHost()
    {
        _ = Hardware;
        var failures = new StringBuilder();
        int faults = 0, runs = 0;
        foreach (var (name, body) in Programs)
        {
            var code = Assemble(body);
            foreach (ulong offset in new ulong[] { 0, 1, 2, 3, 4, 8, 12 })
            {
                foreach (bool ac in new[] { true, false })
                {
                    if (!ac && offset is not (0 or 1)) continue;
                    if (name.StartsWith("fx", StringComparison.Ordinal) && offset == 0) continue;
                    var start = State(Data + 0x200 * offset + offset, ac);
                    runs++;
                    var hw = start.Clone();
                    Hardware.Run(hw, code);
                    if (hw.Vector == 17) faults++;
                    var diff = Compare(start, code);
                    if (diff != null) failures.AppendLine($"{name}, offset {offset}, AC {(ac ? 1 : 0)}:").Append(diff);
                }
            }
        }
        TestContext.Out.WriteLine($"{Programs.Length} programs, {runs} runs, {faults} ended in #AC on the host");
        Assert.That(faults, Is.GreaterThan(Programs.Length), "misaligned runs must fault on the host (is AC loaded?)");
        Assert.That(failures.ToString(), Is.Empty);
    }

    [Test]
    public void AMisalignedAccessIntoTheGuardPageIsAlignmentCheckOnTheHostAndTheEmulator()
    {
        _ = Hardware;
        var failures = new StringBuilder();
        foreach (ulong rbx in new[] { GuardPage + 1, GuardPage - 2, GuardPage, GuardPage - 8 })
        {
            foreach (var body in new Action<Assembler>[] { a => a.mov(eax, __dword_ptr[rbx]), a => a.mov(__qword_ptr[rbx], rcx) })
            {
                var diff = Compare(State(rbx, ac: true), Assemble(body));
                if (diff != null) failures.AppendLine($"rbx 0x{rbx:x}:").Append(diff);
            }
        }
        Assert.That(failures.ToString(), Is.Empty);
    }

    [Test]
    public void PopfTogglingAcMatchesTheHost()
    {
        _ = Hardware;
        Action<Assembler>[] programs =
        [
            a => { a.pushfq(); a.or(__dword_ptr[rsp], (int)Ac); a.popfq(); a.mov(eax, __dword_ptr[rbx + 1]); },
            a => { a.pushfq(); a.or(__dword_ptr[rsp], (int)Ac); a.popfq(); a.mov(eax, __dword_ptr[rbx + 4]); a.pushfq(); a.and(__dword_ptr[rsp], ~(int)Ac); a.popfq(); a.mov(eax, __dword_ptr[rbx + 1]); },
            a => { a.pushfq(); a.or(__dword_ptr[rsp], (int)Ac); a.popf(); a.add(rsp, 6); a.mov(eax, __dword_ptr[rbx + 1]); },
        ];
        var failures = new StringBuilder();
        for (int p = 0; p < programs.Length; p++)
        {
            var diff = Compare(State(Data, ac: false), Assemble(programs[p]));
            if (diff != null) failures.AppendLine($"program {p}:").Append(diff);
        }
        Assert.That(failures.ToString(), Is.Empty);
    }

    /// <summary>AC set, and R15 (the base of most generated memory operands) and RSP moved off their alignment, by a
    /// varying amount.</summary>
    private static MachineState Misaligned(MachineState s, int k)
    {
        s.Rflags |= Ac;
        s.Gpr[15] += (ulong)((k * 5 + 1) % 16);
        s.Gpr[4] += (ulong)(k % 3 == 2 ? 4 : k % 3);
        return s;
    }

    /// <summary>Every instruction form of the differential table (memory operands at random sandbox addresses) and seeded random streams, run with AC set and R15/RSP misaligned.</summary>
    [Test]
    public void EveryInstructionFormAndRandomStreamsMatchTheHostWithAcSet()
    {
        _ = Hardware;
        var failures = new StringBuilder();
        int divergent = 0, runs = 0, faults = 0;
        foreach (var code in StreamGenerator.Templates)
        {
            var gen = new StreamGenerator((int)code * 7919 + 17);
            for (int k = 0; k < 3; k++)
            {
                var listing = new List<Instruction>();
                var bytes = gen.Stream(1, listing, out ulong undefinedFlags, [code]);
                if (listing.Count == 0) continue;
                var start = Misaligned(gen.RandomState(), k);
                var hw = start.Clone();
                var emu = start.Clone();
                Hardware.Run(hw, bytes);
                Emulator.Run(emu, bytes);
                runs++;
                if (hw.Vector == 17) faults++;
                var diff = StateComparer.Difference(hw, emu, undefinedFlags);
                if (diff == null) continue;
                if (divergent++ < 25) failures.AppendLine($"{code}:").Append(StateComparer.Listing(listing, hw.Rip)).Append(diff);
                break;
            }
        }
        var streams = new StreamGenerator(4242);
        for (int s = 0; s < 200; s++)
        {
            var listing = new List<Instruction>();
            var undefinedBefore = new List<ulong>();
            var bytes = streams.Stream(16, listing, undefinedBefore, out ulong undefinedFlags);
            var start = Misaligned(streams.RandomState(), s);
            var hw = start.Clone();
            var emu = start.Clone();
            Hardware.Run(hw, bytes);
            Emulator.Run(emu, bytes);
            runs++;
            if (hw.Vector == 17) faults++;
            int done = listing.FindIndex(i => i.IP == hw.Rip);
            if (done >= 0) undefinedFlags = undefinedBefore[done];
            var diff = StateComparer.Difference(hw, emu, undefinedFlags);
            if (diff == null) continue;
            if (divergent++ < 25) failures.AppendLine($"stream {s}:").Append(StateComparer.Listing(listing, hw.Rip)).Append(diff);
        }
        TestContext.Out.WriteLine($"{runs} runs with AC set, {faults} ended in #AC on the host, {divergent} divergent");
        Assert.That(faults, Is.GreaterThan(100));
        Assert.That(divergent, Is.Zero, failures.ToString());
    }
}
