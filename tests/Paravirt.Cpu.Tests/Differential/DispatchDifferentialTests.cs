using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// Short programs against real hardware that go through the executor's decode-time choices which single
/// instructions do not reach: a block-closing compare and branch fused into one handler (every condition, taken and
/// not), rotates that keep a pending lazy flag record, and the handlers picked by operand form, followed by
/// instructions that read every flag.
/// </summary>
public class DispatchDifferentialTests : HostDifferentialFixture
{
    private static readonly Action<Assembler, Label>[] Jumps =
    [
        (a, l) => a.jo(l), (a, l) => a.jno(l), (a, l) => a.jb(l), (a, l) => a.jae(l),
        (a, l) => a.je(l), (a, l) => a.jne(l), (a, l) => a.jbe(l), (a, l) => a.ja(l),
        (a, l) => a.js(l), (a, l) => a.jns(l), (a, l) => a.jp(l), (a, l) => a.jnp(l),
        (a, l) => a.jl(l), (a, l) => a.jge(l), (a, l) => a.jle(l), (a, l) => a.jg(l),
    ];

    private static readonly Action<Assembler>[] Compares =
    [
        a => a.cmp(rax, rbx),
        a => a.cmp(eax, ebx),
        a => a.cmp(rax, -5),
        a => a.cmp(eax, 0x7FFF_FFFF),
        a => a.test(rax, rbx),
        a => a.test(eax, ebx),
        a => a.test(rax, 0x180),
        a => a.test(eax, unchecked((int)0x8000_0001)),
    ];

    private static byte[] Assemble(Action<Assembler> build)
    {
        var asm = new Assembler(64);
        build(asm);
        var writer = new MemoryStream();
        asm.Assemble(new StreamCodeWriter(writer), MachineState.CodeVa);
        return writer.ToArray();
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
    public void FusedCompareAndBranchTakesTheBranchHardwareTakesForEveryCondition()
    {
        var gen = new StreamGenerator(4242);
        var failures = new List<string>();
        int runs = 0;
        for (int c = 0; c < Compares.Length; c++)
        {
            for (int cc = 0; cc < 16; cc++)
            {
                int compare = c, condition = cc;
                // A loop of three rounds whose closing cmp/test + jcc is fused, then the same pair once more as the
                // last thing before the end, each recording where it went in RDX and the flags it left.
                var code = Assemble(a =>
                {
                    var top = a.CreateLabel();
                    var taken = a.CreateLabel();
                    var done = a.CreateLabel();
                    a.mov(ecx, 3);
                    a.Label(ref top);
                    a.add(rdx, 1);
                    a.dec(ecx);
                    a.jne(top);
                    a.add(rsi, rdx);
                    Compares[compare](a);
                    Jumps[condition](a, taken);
                    a.lea(rdx, __[rdx + 0x100]); // lea: the compare's flags stay for pushfq
                    a.jmp(done);
                    a.Label(ref taken);
                    a.lea(rdx, __[rdx + 0x10000]);
                    a.Label(ref done);
                    a.pushfq();
                    a.pop(rdi);
                });
                for (int k = 0; k < 6; k++)
                {
                    var state = gen.RandomState();
                    // Equal, signed/unsigned-ordered and sign-boundary operands.
                    if (k == 0) state.Gpr[3] = state.Gpr[0];
                    if (k == 1) (state.Gpr[0], state.Gpr[3]) = (0x8000_0000_0000_0000, 1);
                    if (k == 2) (state.Gpr[0], state.Gpr[3]) = (0x7FFF_FFFF, 0xFFFF_FFFF_8000_0000);
                    if (k == 3) state.Gpr[0] = unchecked((ulong)-5);
                    runs++;
                    var diff = Compare(state, code);
                    if (diff != null) failures.Add($"compare {compare}, condition {condition}, case {k}:\n{diff}");
                }
            }
        }
        TestContext.Out.WriteLine($"{runs} runs, {failures.Count} divergent");
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(10)));
    }

    [Test]
    public void RotatesAfterArithmeticLeaveTheFlagsHardwareLeaves()
    {
        Action<Assembler>[] producers =
        [
            a => a.add(rax, rbx), a => a.sub(eax, ebx), a => a.cmp(rax, rbx), a => a.inc(eax), a => a.dec(rax),
            a => a.xor(eax, ebx), a => a.and(rax, rbx), a => a.neg(rax), a => a.add(eax, 0x7FFF_FFF0),
        ];
        Action<Assembler>[] rotates =
        [
            a => a.rol(eax, 1), a => a.ror(rax, 1), a => { a.ror(eax, 1); a.rol(eax, 1); }, a => a.rol(rbx, 1),
        ];
        Action<Assembler>[] readers =
        [
            a => { a.pushfq(); a.pop(rdi); },
            a => { a.setb(dl); a.seto(dh); a.sets(cl); a.setp(ch); a.setle(sil); a.pushfq(); a.pop(rdi); },
            a => { a.adc(rdx, rdx); a.cmovbe(rsi, rbx); a.cmovl(rdi, rax); },
            a => { a.inc(ecx); a.pushfq(); a.pop(rdi); },
        ];
        var gen = new StreamGenerator(777);
        var failures = new List<string>();
        for (int p = 0; p < producers.Length; p++)
        for (int r = 0; r < rotates.Length; r++)
        for (int x = 0; x < readers.Length; x++)
        {
            int pi = p, ri = r, xi = x;
            var code = Assemble(a => { producers[pi](a); rotates[ri](a); readers[xi](a); });
            for (int k = 0; k < 4; k++)
            {
                var state = gen.RandomState();
                if (k == 0) state.Gpr[3] = state.Gpr[0];
                var diff = Compare(state, code);
                if (diff != null) failures.Add($"producer {pi}, rotate {ri}, reader {xi}, case {k}:\n{diff}");
            }
        }
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(10)));
    }

    [Test]
    public void OperandFormHandlersMatchHardware()
    {
        // Each form the executor has its own handler for, with the sandbox at R15: byte/word/dword/qword stores,
        // memory-source ALU ops, cmp/test against memory, shifts by CL, movzx/movsx, lea, push/pop, call/ret.
        Action<Assembler>[] programs =
        [
            a => { a.mov(__byte_ptr[r15 + 0x10], al); a.lea(rbp, __[r15 + 0x11]); a.mov(__byte_ptr[rbp], ah); a.mov(__word_ptr[r15 + 0x13], bx); a.mov(__dword_ptr[r15 + 0x17], ecx); a.mov(__qword_ptr[r15 + 0x1B], rdx); },
            a => { a.mov(__qword_ptr[r15 + 0x40], -3); a.mov(__dword_ptr[r15 + 0x48], 0x1234_5678); a.mov(__word_ptr[r15 + 0x4C], 0x7FFF); a.mov(__byte_ptr[r15 + 0x4E], 0x80); },
            a => { a.add(rax, __qword_ptr[r15 + 0x20]); a.sub(ebx, __dword_ptr[r15 + 0x28]); a.and(rcx, __qword_ptr[r15 + 0x30]); a.or(edx, __dword_ptr[r15 + 0x38]); a.xor(rsi, __qword_ptr[r15 + 0x3C]); a.pushfq(); a.pop(rdi); },
            a => { a.cmp(al, __byte_ptr[r15 + 0x50]); a.setb(bl); a.cmp(__dword_ptr[r15 + 0x54], ecx); a.setl(bh); a.test(__qword_ptr[r15 + 0x58], 0x100); a.sete(cl); a.cmp(__word_ptr[r15 + 0x60], 5); a.pushfq(); a.pop(rdi); },
            // AF (and OF for counts above 1) are undefined after shifts: masked out of the saved flags.
            a =>
            {
                a.shl(rax, cl); a.pushfq(); a.and(__qword_ptr[rsp], ~0x810);
                a.shr(ebx, cl); a.pushfq(); a.and(__qword_ptr[rsp], ~0x810);
                a.sar(rdx, cl); a.pushfq(); a.and(__qword_ptr[rsp], ~0x810);
                a.pop(rsi); a.pop(rdi); a.pop(rbp);
            },
            a => { a.movzx(eax, __byte_ptr[r15 + 0x70]); a.movzx(rbx, __word_ptr[r15 + 0x71]); a.movsx(rcx, __byte_ptr[r15 + 0x73]); a.movsxd(rdx, __dword_ptr[r15 + 0x74]); a.movsx(esi, di); a.movzx(edi, bpl); },
            a => { a.lea(rax, __[rbx + rcx * 4 + 0x123]); a.lea(edx, __[rsi + rdi * 8 - 7]); a.lea(rbp, __[rcx * 2]); a.not(rsi); a.neg(ebx); a.pushfq(); a.pop(rdi); },
            a =>
            {
                // RIP-relative lea and loads (the handlers get the next RIP in a register, not from memory).
                // The label is the snippet's first byte: what is read lies inside the snippet on both runners.
                var here = a.CreateLabel();
                a.Label(ref here);
                a.lea(rax, __[here]);
                a.add(rbx, 1);
                a.lea(ecx, __[here]);
                a.mov(rdx, __qword_ptr[here]);
                a.add(esi, __dword_ptr[here]);
                a.xor(edi, __dword_ptr[here]);
            },
            a =>
            {
                var sub = a.CreateLabel();
                var over = a.CreateLabel();
                a.push(rax); a.push(r9); a.call(sub); a.pop(rcx); a.pop(rdx); a.jmp(over);
                a.Label(ref sub); a.mov(r8, __qword_ptr[rsp]); a.add(rax, rbx); a.ret();
                a.Label(ref over);
                a.xchg(rax, rdx);
            },
        ];
        var gen = new StreamGenerator(99);
        var failures = new List<string>();
        for (int p = 0; p < programs.Length; p++)
        {
            var code = Assemble(programs[p]);
            for (int k = 0; k < 8; k++)
            {
                var state = gen.RandomState();
                state.Gpr[15] = MachineState.SandboxVa;
                state.Gpr[4] = MachineState.SandboxVa + 0x8000 + (ulong)k * 8; // a stack inside the sandbox
                if (p == 4) state.Gpr[1] = (ulong)(k * 9); // counts 0, 9, ... 63: zero, small and masked
                var diff = Compare(state, code);
                if (diff != null) failures.Add($"program {p}, case {k}:\n{diff}");
            }
        }
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(10)));
    }
}
