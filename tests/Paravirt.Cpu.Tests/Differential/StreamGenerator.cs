using Iced.Intel;
using Paravirt.Cpu.Emulated;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// Seeded random instruction streams and machine states for the differential harness, encoded with Iced's
/// <see cref="Encoder"/>. Memory operands stay inside the sandbox: [r15 + disp] (R15 holds the sandbox base and is
/// never written), [rip + disp] and absolute [disp32] aimed at it. RSP is never an explicit operand; push/pop
/// move it inside the sandbox. Flags the SDM leaves undefined (Iced's per-instruction RflagsUndefined tables)
/// are tracked through the stream: an instruction that would read an undefined flag is not generated, and the
/// flags still undefined at the end are masked in the comparison.
/// </summary>
internal sealed class StreamGenerator
{
    /// <summary>Mnemonics the harness exercises. Left out, with the reason: control flow (streams are straight
    /// line), string instructions (curated separately, their pointers must be valid), popf/cli/sti/enter/leave
    /// (would leave the sandbox or change privileged flags), cpuid/rdtsc/rdtscp (differ by design), ldmxcsr
    /// (random memory nearly always has reserved bits set: #GP; <see cref="RandomState"/> randomises MXCSR
    /// instead), stmxcsr and fxsave (not enabled in the streams yet), fldcw and fnstsw (unmasked x87 exceptions get the masked response),
    /// lzcnt (this host lacks LZCNT and runs F3 0F BD as bsr).</summary>
    private static readonly HashSet<Mnemonic> Allowed =
    [
        Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr,
        Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr, Mnemonic.Shld, Mnemonic.Shrd,
        Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv, Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe,
        Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Cqo, Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf,
        Mnemonic.Bsr, Mnemonic.Tzcnt, Mnemonic.Popcnt, Mnemonic.Bswap, Mnemonic.Movbe, Mnemonic.Mov, Mnemonic.Movzx,
        Mnemonic.Movsx, Mnemonic.Movsxd, Mnemonic.Lea, Mnemonic.Xchg, Mnemonic.Cmpxchg, Mnemonic.Xadd,
        Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b, Mnemonic.Lahf, Mnemonic.Sahf, Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc,
        Mnemonic.Push, Mnemonic.Pop, Mnemonic.Pushf, Mnemonic.Nop, Mnemonic.Pause, Mnemonic.Lfence, Mnemonic.Mfence,
        Mnemonic.Sfence, Mnemonic.Movnti,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe,
        Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge,
        Mnemonic.Setle, Mnemonic.Setg,
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
        Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
        Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
        // SSE/SSE2
        Mnemonic.Movaps, Mnemonic.Movups, Mnemonic.Movapd, Mnemonic.Movupd, Mnemonic.Movdqa, Mnemonic.Movdqu,
        Mnemonic.Movntdq, Mnemonic.Movntps, Mnemonic.Movntpd, Mnemonic.Movd, Mnemonic.Movq, Mnemonic.Movss,
        Mnemonic.Movsd, Mnemonic.Pxor, Mnemonic.Por, Mnemonic.Pand, Mnemonic.Pandn, Mnemonic.Xorps, Mnemonic.Xorpd,
        Mnemonic.Orps, Mnemonic.Orpd, Mnemonic.Andps, Mnemonic.Andpd, Mnemonic.Andnps, Mnemonic.Andnpd,
        Mnemonic.Paddb, Mnemonic.Paddw, Mnemonic.Paddd, Mnemonic.Paddq, Mnemonic.Psubb, Mnemonic.Psubw, Mnemonic.Psubd,
        Mnemonic.Psubq, Mnemonic.Pcmpeqb, Mnemonic.Pcmpeqw, Mnemonic.Pcmpeqd, Mnemonic.Pcmpgtb, Mnemonic.Pcmpgtw,
        Mnemonic.Pcmpgtd, Mnemonic.Pminub, Mnemonic.Pmaxub, Mnemonic.Pmovmskb, Mnemonic.Pshufd, Mnemonic.Punpcklbw,
        Mnemonic.Punpcklwd, Mnemonic.Punpckldq, Mnemonic.Punpcklqdq, Mnemonic.Punpckhbw, Mnemonic.Punpckhwd,
        Mnemonic.Punpckhdq, Mnemonic.Punpckhqdq, Mnemonic.Psllw, Mnemonic.Pslld, Mnemonic.Psllq, Mnemonic.Psrlw,
        Mnemonic.Psrld, Mnemonic.Psrlq, Mnemonic.Psraw, Mnemonic.Psrad, Mnemonic.Pslldq, Mnemonic.Psrldq,
        Mnemonic.Movmskps, Mnemonic.Movmskpd, Mnemonic.Unpcklps, Mnemonic.Unpckhps, Mnemonic.Unpcklpd, Mnemonic.Unpckhpd,
        Mnemonic.Addps, Mnemonic.Addpd, Mnemonic.Subps, Mnemonic.Subpd, Mnemonic.Mulps, Mnemonic.Mulpd, Mnemonic.Divps,
        Mnemonic.Divpd, Mnemonic.Sqrtps, Mnemonic.Sqrtpd, Mnemonic.Minps, Mnemonic.Minpd, Mnemonic.Maxps, Mnemonic.Maxpd,
        Mnemonic.Addsd, Mnemonic.Subsd, Mnemonic.Mulsd, Mnemonic.Divsd, Mnemonic.Sqrtsd, Mnemonic.Minsd, Mnemonic.Maxsd,
        Mnemonic.Addss, Mnemonic.Subss, Mnemonic.Mulss, Mnemonic.Divss, Mnemonic.Sqrtss, Mnemonic.Minss, Mnemonic.Maxss,
        Mnemonic.Comisd, Mnemonic.Ucomisd, Mnemonic.Comiss, Mnemonic.Ucomiss, Mnemonic.Cvtsi2sd, Mnemonic.Cvtsi2ss,
        Mnemonic.Cvttsd2si, Mnemonic.Cvttss2si, Mnemonic.Cvtsd2ss, Mnemonic.Cvtss2sd, Mnemonic.Cvtsd2si, Mnemonic.Cvtss2si,
        Mnemonic.Cmpps, Mnemonic.Cmppd, Mnemonic.Cmpss, Mnemonic.Cmpsd, Mnemonic.Shufps, Mnemonic.Shufpd, Mnemonic.Movhps,
        Mnemonic.Movlps, Mnemonic.Movhpd, Mnemonic.Movlpd, Mnemonic.Movhlps, Mnemonic.Movlhps, Mnemonic.Pshuflw,
        Mnemonic.Pshufhw, Mnemonic.Cvtdq2pd, Mnemonic.Cvtdq2ps, Mnemonic.Cvtps2pd, Mnemonic.Cvtpd2ps, Mnemonic.Cvttps2dq,
        Mnemonic.Cvttpd2dq, Mnemonic.Cvtps2dq, Mnemonic.Cvtpd2dq, Mnemonic.Packsswb, Mnemonic.Packssdw, Mnemonic.Packuswb,
        Mnemonic.Paddsb, Mnemonic.Paddsw, Mnemonic.Paddusb, Mnemonic.Paddusw, Mnemonic.Psubsb, Mnemonic.Psubsw,
        Mnemonic.Psubusb, Mnemonic.Psubusw, Mnemonic.Pmullw, Mnemonic.Pmulhw, Mnemonic.Pmulhuw, Mnemonic.Pmuludq,
        Mnemonic.Pmaddwd, Mnemonic.Pavgb, Mnemonic.Pavgw, Mnemonic.Pminsw, Mnemonic.Pmaxsw, Mnemonic.Psadbw,
        Mnemonic.Pextrw, Mnemonic.Pinsrw,
        // x87
        Mnemonic.Fld, Mnemonic.Fst, Mnemonic.Fstp, Mnemonic.Fild, Mnemonic.Fist, Mnemonic.Fistp, Mnemonic.Fisttp,
        Mnemonic.Fadd, Mnemonic.Faddp, Mnemonic.Fiadd, Mnemonic.Fsub, Mnemonic.Fsubp, Mnemonic.Fisub, Mnemonic.Fsubr,
        Mnemonic.Fsubrp, Mnemonic.Fisubr, Mnemonic.Fmul, Mnemonic.Fmulp, Mnemonic.Fimul, Mnemonic.Fdiv, Mnemonic.Fdivp,
        Mnemonic.Fidiv, Mnemonic.Fdivr, Mnemonic.Fdivrp, Mnemonic.Fidivr, Mnemonic.Fchs, Mnemonic.Fabs, Mnemonic.Fsqrt,
        Mnemonic.Frndint, Mnemonic.Fscale, Mnemonic.Fxam, Mnemonic.Ftst, Mnemonic.Fcom, Mnemonic.Fcomp, Mnemonic.Fcompp,
        Mnemonic.Fucom, Mnemonic.Fucomp, Mnemonic.Fucompp, Mnemonic.Ficom, Mnemonic.Ficomp, Mnemonic.Fcomi,
        Mnemonic.Fcomip, Mnemonic.Fucomi, Mnemonic.Fucomip, Mnemonic.Fxch, Mnemonic.Fld1, Mnemonic.Fldz, Mnemonic.Fldpi,
        Mnemonic.Fldl2e, Mnemonic.Fldl2t, Mnemonic.Fldlg2, Mnemonic.Fldln2, Mnemonic.Fnstcw, Mnemonic.Wait,
        Mnemonic.Fninit, Mnemonic.Fnclex, Mnemonic.Ffree, Mnemonic.Fincstp, Mnemonic.Fdecstp, Mnemonic.Fnop,
        Mnemonic.Fcmovb, Mnemonic.Fcmove, Mnemonic.Fcmovbe, Mnemonic.Fcmovu, Mnemonic.Fcmovnb, Mnemonic.Fcmovne,
        Mnemonic.Fcmovnbe, Mnemonic.Fcmovnu,
    ];

    /// <summary>Every legacy-encoded 64-bit-mode form of an allowed mnemonic whose operands we can fill.</summary>
    public static readonly Code[] Templates = BuildTemplates();

    private static Code[] BuildTemplates()
    {
        var list = new List<Code>();
        foreach (Code c in Enum.GetValues<Code>())
        {
            if (c == Code.INVALID) continue;
            var op = c.ToOpCode();
            if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy || !op.Mode64) continue;
            if (!Allowed.Contains(c.Mnemonic())) continue;
            if (op.AddressSize == 32 || op.AddressSize == 16) continue;
            bool ok = true;
            for (int i = 0; i < op.OpCount && ok; i++) ok = Fillable(op.GetOpKind(i));
            // 16-bit shld/shrd with counts above 16 leave an undefined result.
            if ((c.Mnemonic() is Mnemonic.Shld or Mnemonic.Shrd) && op.OperandSize == 16) ok = false;
            // Pushes/pops of segment registers and of 16-bit flags are out of scope.
            if (c.Mnemonic() is Mnemonic.Pushf && op.OperandSize != 64) ok = false;
            // bt/bts/btr/btc m, r with a register bit offset reach up to 2^60 bytes away; with a non-canonical
            // result this host (AMD EPYC under the PVM hypervisor) reports #PF at the address truncated to 32
            // bits where the SDM and APM specify #GP(0). Covered by a curated test with offsets that stay canonical.
            if (c.Mnemonic() is Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc
                && op.OpCount == 2 && op.GetOpKind(0) is OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem
                && op.GetOpKind(1) is OpCodeOperandKind.r16_reg or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r64_reg) ok = false;
            // SSE4.1 form of pextrw: not part of this CPU.
            if (c is Code.Pextrw_r32m16_xmm_imm8 or Code.Pextrw_r64m16_xmm_imm8) ok = false;
            if (ok) list.Add(c);
        }
        return list.ToArray();
    }

    private static bool Fillable(OpCodeOperandKind k) => k switch
    {
        OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem
            or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r8_reg or OpCodeOperandKind.r16_reg
            or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r8_opcode
            or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r64_opcode
            or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r64_rm or OpCodeOperandKind.mem
            or OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm
            or OpCodeOperandKind.imm8 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm64
            or OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64
            or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm8_const_1 or OpCodeOperandKind.al
            or OpCodeOperandKind.cl or OpCodeOperandKind.ax or OpCodeOperandKind.eax or OpCodeOperandKind.rax
            or OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode => true,
        _ => false,
    };

    private static readonly int[] GprChoices = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

    private readonly Random _rng;

    public StreamGenerator(int seed) => _rng = new Random(seed);

    /// <summary>One instance of <paramref name="code"/> with random operands, or null if Iced cannot encode it.</summary>
    public Instruction? Instantiate(Code code)
    {
        var op = code.ToOpCode();
        var ins = new Instruction { Code = code };
        for (int i = 0; i < op.OpCount; i++)
        {
            var k = op.GetOpKind(i);
            switch (k)
            {
                case OpCodeOperandKind.r8_or_mem: case OpCodeOperandKind.r16_or_mem: case OpCodeOperandKind.r32_or_mem:
                case OpCodeOperandKind.r64_or_mem: case OpCodeOperandKind.xmm_or_mem:
                    // movsxd r16, m: this host (AMD EPYC) reads 4 bytes where the SDM has r/m16 (the emulator reads
                    // 2), so an operand in the last 2 bytes before the guard page faults only on the host; the
                    // register form only.
                    if (_rng.Next(3) == 0 && code != Code.Movsxd_r16_rm16) SetMemory(ref ins, i);
                    else SetRegister(ref ins, i, RandomRegister(k));
                    break;
                case OpCodeOperandKind.mem:
                    SetMemory(ref ins, i);
                    break;
                case OpCodeOperandKind.imm8:
                    ins.SetOpKind(i, i == 0 || op.GetOpKind(i - 1) is not OpCodeOperandKind.imm16 ? OpKind.Immediate8 : OpKind.Immediate8_2nd);
                    ins.Immediate8 = (byte)RandomImmediate();
                    break;
                case OpCodeOperandKind.imm8_const_1:
                    ins.SetOpKind(i, OpKind.Immediate8);
                    ins.Immediate8 = 1;
                    break;
                case OpCodeOperandKind.imm16: ins.SetOpKind(i, OpKind.Immediate16); ins.Immediate16 = (ushort)RandomImmediate(); break;
                case OpCodeOperandKind.imm32: ins.SetOpKind(i, OpKind.Immediate32); ins.Immediate32 = (uint)RandomImmediate(); break;
                case OpCodeOperandKind.imm64: ins.SetOpKind(i, OpKind.Immediate64); ins.Immediate64 = RandomValue(); break;
                case OpCodeOperandKind.imm8sex16: ins.SetOpKind(i, OpKind.Immediate8to16); ins.Immediate8to16 = (sbyte)RandomImmediate(); break;
                case OpCodeOperandKind.imm8sex32: ins.SetOpKind(i, OpKind.Immediate8to32); ins.Immediate8to32 = (sbyte)RandomImmediate(); break;
                case OpCodeOperandKind.imm8sex64: ins.SetOpKind(i, OpKind.Immediate8to64); ins.Immediate8to64 = (sbyte)RandomImmediate(); break;
                case OpCodeOperandKind.imm32sex64: ins.SetOpKind(i, OpKind.Immediate32to64); ins.Immediate32to64 = (int)RandomImmediate(); break;
                case OpCodeOperandKind.al: SetRegister(ref ins, i, Register.AL); break;
                case OpCodeOperandKind.cl: SetRegister(ref ins, i, Register.CL); break;
                case OpCodeOperandKind.ax: SetRegister(ref ins, i, Register.AX); break;
                case OpCodeOperandKind.eax: SetRegister(ref ins, i, Register.EAX); break;
                case OpCodeOperandKind.rax: SetRegister(ref ins, i, Register.RAX); break;
                case OpCodeOperandKind.st0: SetRegister(ref ins, i, Register.ST0); break;
                case OpCodeOperandKind.sti_opcode: SetRegister(ref ins, i, Register.ST0 + _rng.Next(8)); break;
                default: SetRegister(ref ins, i, RandomRegister(k)); break;
            }
        }
        return ins;
    }

    private static void SetRegister(ref Instruction ins, int i, Register r)
    {
        ins.SetOpKind(i, OpKind.Register);
        ins.SetOpRegister(i, r);
    }

    private Register RandomRegister(OpCodeOperandKind k)
    {
        int g = GprChoices[_rng.Next(GprChoices.Length)];
        switch (k)
        {
            case OpCodeOperandKind.r8_or_mem: case OpCodeOperandKind.r8_reg: case OpCodeOperandKind.r8_opcode:
                if (g < 4 && _rng.Next(4) == 0) return Register.AH + g;
                return g < 4 ? Register.AL + g : g < 8 ? Register.SPL + (g - 4) : Register.R8L + (g - 8);
            case OpCodeOperandKind.r16_or_mem: case OpCodeOperandKind.r16_reg: case OpCodeOperandKind.r16_opcode:
                return Register.AX + g;
            case OpCodeOperandKind.r32_or_mem: case OpCodeOperandKind.r32_reg: case OpCodeOperandKind.r32_opcode:
            case OpCodeOperandKind.r32_rm:
                return Register.EAX + g;
            case OpCodeOperandKind.xmm_or_mem: case OpCodeOperandKind.xmm_reg: case OpCodeOperandKind.xmm_rm:
                return Register.XMM0 + _rng.Next(16);
            default:
                return Register.RAX + g;
        }
    }

    private void SetMemory(ref Instruction ins, int i)
    {
        ins.SetOpKind(i, OpKind.Memory);
        // Mostly 16-byte aligned (the legacy SSE forms need it), sometimes anywhere; near the end of the
        // sandbox now and then so accesses run into the guard page.
        long offset = _rng.Next(10) == 0 ? MachineState.SandboxSize - _rng.Next(1, 24) : _rng.Next(0, MachineState.SandboxSize / 2 - 64);
        if (_rng.Next(4) != 0) offset &= ~15L;
        switch (_rng.Next(6))
        {
            case 0:
                ins.MemoryBase = Register.RIP;
                ins.MemoryDisplacement64 = MachineState.SandboxVa + (ulong)offset;
                ins.MemoryDisplSize = 8;
                break;
            case 1:
                ins.MemoryBase = Register.None;
                ins.MemoryDisplacement64 = MachineState.SandboxVa + (ulong)offset;
                ins.MemoryDisplSize = 4;
                break;
            default:
                ins.MemoryBase = Register.R15;
                ins.MemoryDisplacement64 = (ulong)offset;
                ins.MemoryDisplSize = offset < 128 ? 1 : 4;
                break;
        }
        ins.MemoryIndex = Register.None;
        ins.MemoryIndexScale = 1;
    }

    private ulong RandomImmediate() => _rng.Next(4) switch
    {
        0 => (ulong)_rng.Next(0, 70),
        1 => (ulong)(long)-_rng.Next(1, 3),
        _ => (ulong)_rng.NextInt64(),
    };

    private static readonly ulong[] Edges =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, ulong.MaxValue - 1, 31, 32, 63, 64,
    ];

    public ulong RandomValue() => _rng.Next(3) == 0 ? Edges[_rng.Next(Edges.Length)] : (ulong)_rng.NextInt64() ^ ((ulong)_rng.Next() << 63);

    /// <summary>Bit patterns of binary32/binary64 values that exercise the interesting cases.</summary>
    public ulong RandomDouble() => _rng.Next(8) switch
    {
        0 => (ulong)_rng.NextInt64() ^ ((ulong)_rng.Next(2) << 63),
        1 => BitConverter.DoubleToUInt64Bits(_rng.Next(-1000, 1000)),
        2 => new ulong[] { 0UL, 0x8000_0000_0000_0000, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000,
            0x7FF4_0000_0000_0001, 0x0000_0000_0000_0001, 0x000F_FFFF_FFFF_FFFF, 0x7FEF_FFFF_FFFF_FFFF,
            0x3FF0_0000_0000_0000 }[_rng.Next(10)],
        3 => (ulong)(uint)BitConverter.SingleToInt32Bits(_rng.Next(-100, 100) / 8f) | ((ulong)(uint)BitConverter.SingleToInt32Bits(_rng.NextSingle() * 1e6f) << 32),
        4 => (ulong)(uint)_rng.Next() | ((ulong)(uint)_rng.Next() << 32),
        _ => BitConverter.DoubleToUInt64Bits((_rng.NextDouble() - 0.5) * Math.Pow(2, _rng.Next(-80, 80))),
    };

    /// <summary>An 80-bit value: normal numbers near 1 and far away, zeros, infinities, NaNs, denormals and
    /// occasionally an unsupported encoding.</summary>
    public (ushort SignExp, ulong Mant) RandomExtended()
    {
        ushort sign = (ushort)(_rng.Next(2) << 15);
        ulong mant = (ulong)_rng.NextInt64() | 0x8000_0000_0000_0000;
        return _rng.Next(12) switch
        {
            0 => (sign, 0),
            1 => ((ushort)(sign | 0x7FFF), 0x8000_0000_0000_0000),
            2 => ((ushort)(sign | 0x7FFF), mant | 0x4000_0000_0000_0000),
            3 => ((ushort)(sign | 0x7FFF), (mant & ~0x4000_0000_0000_0000UL) | 1),
            4 => (sign, mant >> _rng.Next(1, 64)),
            5 => ((ushort)(sign | _rng.Next(1, 0x7FFF)), mant & 0x7FFF_FFFF_FFFF_FFFF),
            6 => ((ushort)(sign | (0x3FFF + _rng.Next(-16, 64))), _rng.Next(2) == 0 ? mant : mant & 0xFFFF_F000_0000_0000),
            7 => ((ushort)(sign | _rng.Next(1, 0x7FFF)), mant),
            _ => ((ushort)(sign | (0x3FFF + _rng.Next(-200, 200))), mant),
        };
    }

    private static readonly ushort[] ControlWords = [0x037F, 0x027F, 0x007F, 0x077F, 0x0B7F, 0x0F7F, 0x007F | 0x0400, 0x0E7F];

    /// <summary>A random starting state: GPRs, status flags, XMM lanes, the x87 stack (random TOP and tags, all
    /// exceptions masked, random precision and rounding control), the sandbox and MXCSR (half the time the default,
    /// else a random rounding control, FZ and DAZ, with some exceptions unmasked one time in four and some status
    /// flags already set one time in four).</summary>
    public MachineState RandomState()
    {
        var s = MachineState.Initial();
        for (int i = 0; i < 16; i++) s.Gpr[i] = RandomValue();
        s.Gpr[4] = MachineState.StackVa;
        s.Gpr[15] = MachineState.SandboxVa;
        s.Rflags = 0x2 | ((ulong)_rng.Next() & 0x8D5);
        for (int q = 0; q < 32; q++) s.SetXmm(q, RandomDouble());
        s.Fcw = ControlWords[_rng.Next(ControlWords.Length)];
        int top = _rng.Next(8);
        s.Fsw = (ushort)(top << 11);
        s.Ftw = (byte)_rng.Next(256);
        for (int i = 0; i < 8; i++)
        {
            var (se, m) = RandomExtended();
            s.SetSt(i, se, m);
        }
        var sandbox = s.Sandbox;
        for (int off = 0; off < sandbox.Length; off += 16)
        {
            switch (_rng.Next(4))
            {
                case 0: BitConverter.TryWriteBytes(sandbox.AsSpan(off), RandomDouble()); BitConverter.TryWriteBytes(sandbox.AsSpan(off + 8), RandomDouble()); break;
                case 1:
                {
                    var (se, m) = RandomExtended();
                    BitConverter.TryWriteBytes(sandbox.AsSpan(off), m);
                    BitConverter.TryWriteBytes(sandbox.AsSpan(off + 8), se);
                    break;
                }
                case 2: BitConverter.TryWriteBytes(sandbox.AsSpan(off), RandomValue()); BitConverter.TryWriteBytes(sandbox.AsSpan(off + 8), RandomValue()); break;
                default: _rng.NextBytes(sandbox.AsSpan(off, 16)); break;
            }
        }
        if (_rng.Next(2) == 0)
        {
            uint mxcsr = 0x1F80 | (uint)_rng.Next(4) << 13 | (_rng.Next(2) == 0 ? 0x8000u : 0) | (_rng.Next(2) == 0 ? 0x40u : 0);
            if (_rng.Next(4) == 0) mxcsr &= ~((uint)_rng.Next(64) << 7);
            if (_rng.Next(4) == 0) mxcsr |= (uint)_rng.Next(64);
            s.Mxcsr = mxcsr;
        }
        return s;
    }

    /// <summary>A straight-line stream of <paramref name="count"/> instructions. <paramref name="undefinedFlags"/>
    /// receives the RFLAGS bits left undefined at its end.</summary>
    public byte[] Stream(int count, List<Instruction> listing, out ulong undefinedFlags, IReadOnlyList<Code>? templates = null) =>
        Stream(count, listing, new List<ulong>(), out undefinedFlags, templates);

    /// <summary>As above; <paramref name="undefinedBefore"/>[k] receives the flags undefined before instruction k
    /// (for comparing a run that faulted there).</summary>
    public byte[] Stream(int count, List<Instruction> listing, List<ulong> undefinedBefore, out ulong undefinedFlags,
        IReadOnlyList<Code>? templates = null)
    {
        templates ??= Templates;
        var writer = new ByteWriter();
        var encoder = Encoder.Create(64, writer);
        ulong undefined = 0;
        ulong ip = MachineState.CodeVa;
        int emitted = 0, attempts = 0;
        while (emitted < count && attempts++ < count * 50)
        {
            var maybe = Instantiate(templates[_rng.Next(templates.Count)]);
            if (maybe is not Instruction ins) continue;
            ulong read = ToRflags(ins.RflagsRead);
            if ((read & undefined) != 0) continue;
            var probe = Encoder.Create(64, new ByteWriter());
            if (!probe.TryEncode(ins, ip, out uint len, out _)) continue;
            encoder.Encode(ins, ip);
            ip += len;
            ins.IP = ip - len;
            listing.Add(ins);
            undefinedBefore.Add(undefined);
            emitted++;
            bool variableCount = ins.Mnemonic is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol
                or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld or Mnemonic.Shrd;
            ulong modified = ToRflags(ins.RflagsModified), undef = ToRflags(ins.RflagsUndefined);
            if (!variableCount) undefined &= ~modified;
            undefined |= undef;
        }
        undefinedFlags = undefined;
        return writer.ToArray();
    }

    public static ulong ToRflags(RflagsBits b)
    {
        ulong f = 0;
        if ((b & RflagsBits.OF) != 0) f |= 1UL << 11;
        if ((b & RflagsBits.SF) != 0) f |= 1UL << 7;
        if ((b & RflagsBits.ZF) != 0) f |= 1UL << 6;
        if ((b & RflagsBits.AF) != 0) f |= 1UL << 4;
        if ((b & RflagsBits.CF) != 0) f |= 1UL << 0;
        if ((b & RflagsBits.PF) != 0) f |= 1UL << 2;
        if ((b & RflagsBits.DF) != 0) f |= 1UL << 10;
        return f;
    }

    private sealed class ByteWriter : CodeWriter
    {
        private readonly List<byte> _bytes = new();
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => _bytes.ToArray();
    }
}
