using System.Runtime.InteropServices;
using Iced.Intel;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// Dense operation classes the executor switches on (a jump table, unlike Iced's sparse <see cref="Mnemonic"/>).
/// New ISA groups (SSE, x87) get their own members and a handler file; everything unmapped is
/// <see cref="Unimplemented"/> and raises a logged #UD.
/// </summary>
internal enum Op : byte
{
    Unimplemented = 0, Ud, Nop,
    Mov, Movzx, Movsx, Lea, Push, Pop, Xchg, Cmpxchg, Xadd, Cmpxchg8b, Cmpxchg16b, Movbe,
    Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test, Inc, Dec, Neg, Not,
    Shl, Shr, Sar, Rol, Ror, Rcl, Rcr, Shld, Shrd,
    Mul, Imul, Div, Idiv,
    Cbw, Cwde, Cdqe, Cwd, Cdq, Cqo,
    Bt, Bts, Btr, Btc, Bsf, Bsr, Lzcnt, Tzcnt, Popcnt, Bswap,
    Setcc, Cmovcc, Jcc, Jmp, Call, Ret, Loop, Loope, Loopne, Jrcxz,
    Movs, Stos, Lods, Cmps, Scas,
    Enter, Leave, Pushf, Popf, Lahf, Sahf, Clc, Stc, Cmc, Cld, Std, Cli, Sti,
    Cpuid, Rdtsc, Rdtscp, Syscall, Int3, IntN, Int1, Hlt, Privileged, In, Out, Ins, Outs, Iretq,
    MovToSegment, PopSegment,
    SseMov, SseMovd, SseMovq, SseLogic, Ldmxcsr, Stmxcsr, SsePackedInt, SseScalar, Fxsave, Fxrstor, SsePackedFloat, SseExtra,
    X87,
    // Specialised forms chosen at decode time (see DecodedInstruction.Specialise): 32/64-bit register destinations,
    // no prefixes that matter, so their handlers skip the operand-kind and size dispatch of the generic forms.
    MovRR64, MovRR32, MovRI, MovRM64, MovRM32, MovMR,
    AddRR, SubRR, CmpRR, AndRR, OrRR, XorRR, TestRR,
    AddRI, SubRI, CmpRI, AndRI, OrRI, XorRI, TestRI,
    IncR, DecR,
    ShlRI, ShrRI, SarRI,
}

/// <summary>Operand kinds of a <see cref="DecodedInstruction"/>.</summary>
internal enum OperandKind : byte { None = 0, Register, Memory, Immediate, Branch, SegmentRegister, Other, Xmm, X87 }

/// <summary>
/// One guest instruction, decoded once and executed many times: Iced's answer boiled down to what the executor
/// reads, so execution never goes back to Iced's accessors. Position-independent: branch targets and
/// RIP-relative displacements are stored relative to the next instruction, so the same decoded machine frame
/// serves every linear address it is mapped at.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal unsafe struct DecodedInstruction
{
    public const byte NoRegister = 0xFF;
    public const byte RipRegister = 16;
    /// <summary>Register code bit for AH/CH/DH/BH (bits 8..15 of register 0..3).</summary>
    public const byte HighByte = 0x20;

    public const byte SegDefault = 0, SegStack = 1, SegFs = 2, SegGs = 3;

    /// <summary>The handler chosen once at decode time (<see cref="EmulatedVcpu"/>'s Handlers.cs): the executor
    /// calls it directly instead of switching on <see cref="Op"/> per executed instruction.</summary>
    public delegate*<EmulatedVcpu, ref DecodedInstruction, ulong, bool> Handler;
    public Op Op;
    public byte Length;
    /// <summary>Position in its block, and whether it is the block's last instruction (set when the block is built).</summary>
    public byte Index;
    public bool Last;
    /// <summary>Operand size in bytes of operand 0 (the destination), or the natural size of the operation.</summary>
    public byte Size;
    /// <summary>Size in bytes of operand 1 (the source of movzx/movsx/movsxd and friends).</summary>
    public byte Size1;
    public OperandKind Kind0, Kind1, Kind2;
    /// <summary>Register codes: GPR number 0..15, or 0..3 | <see cref="HighByte"/>; segment register number for
    /// <see cref="OperandKind.SegmentRegister"/>.</summary>
    public byte Reg0, Reg1, Reg2;
    /// <summary>x86 condition encoding 0 (o) .. 15 (g) for jcc/setcc/cmovcc.</summary>
    public byte Condition;
    public byte MemBase, MemIndex, MemScaleShift, MemSegment;
    /// <summary>Register-file slots for the branch-free effective address of the fast handlers:
    /// disp + r[EaBase] + (r[EaIndex] &lt;&lt; scale), where an absent register is the always-zero slot and RIP is the
    /// next-RIP slot (see <see cref="EmulatedVcpu"/>'s register file).</summary>
    public byte EaBase, EaIndex;
    /// <summary>The memory operand has the flat form the fast handlers compute: 64-bit address size and the
    /// default (DS or SS) segment, which has base 0 in 64-bit mode.</summary>
    public bool EaFlat;
    /// <summary>The memory operand's default segment is SS (base RSP or RBP): a non-canonical address is #SS.</summary>
    public bool EaStack;
    public bool Lock, Rep, Repne, AddressSize32, OperandCount3;
    /// <summary>Sign-extended displacement; for RIP-relative operands, relative to the next instruction.</summary>
    public long Displacement;
    /// <summary>Immediate, sign- or zero-extended to 64 bits as the encoding says; for branches the target
    /// relative to the next instruction.</summary>
    public ulong Immediate;
    /// <summary>Second immediate (enter's nesting level).</summary>
    public byte Immediate2;
    public Code Code;

    public static DecodedInstruction From(in Instruction i)
    {
        var d = new DecodedInstruction
        {
            Op = Classify(i),
            Length = (byte)i.Length,
            Code = i.Code,
            MemBase = NoRegister,
            MemIndex = NoRegister,
            Lock = i.HasLockPrefix,
            Rep = i.HasRepPrefix,
            Repne = i.HasRepnePrefix,
        };
        if (d.Op == Op.Unimplemented || d.Op == Op.Ud)
        {
            d.Handler = EmulatedVcpu.SelectHandler(ref d);
            return d;
        }
        int count = Math.Min(i.OpCount, 3);
        d.OperandCount3 = i.OpCount == 3;
        for (int n = 0; n < count; n++)
        {
            OperandKind kind;
            byte reg = 0, size = 0;
            switch (i.GetOpKind(n))
            {
                case OpKind.Register:
                    var r = i.GetOpRegister(n);
                    if (r.IsGPR())
                    {
                        kind = OperandKind.Register;
                        reg = RegisterCode(r);
                        size = (byte)r.GetSize();
                    }
                    else if (r.IsSegmentRegister())
                    {
                        kind = OperandKind.SegmentRegister;
                        reg = (byte)(r - Register.ES);
                        size = 2;
                    }
                    else if (r.IsXMM())
                    {
                        kind = OperandKind.Xmm;
                        reg = (byte)(r - Register.XMM0);
                        size = 16;
                    }
                    else if (r >= Register.ST0 && r <= Register.ST7)
                    {
                        kind = OperandKind.X87;
                        reg = (byte)(r - Register.ST0);
                    }
                    else
                    {
                        kind = OperandKind.Other; // CR/DR/MMX: only privileged or unimplemented ops carry these
                    }
                    break;
                case OpKind.Memory:
                    kind = OperandKind.Memory;
                    size = (byte)i.MemorySize.GetSize();
                    FillMemory(ref d, i);
                    break;
                case OpKind.Immediate8:
                case OpKind.Immediate16:
                case OpKind.Immediate32:
                case OpKind.Immediate64:
                case OpKind.Immediate8to16:
                case OpKind.Immediate8to32:
                case OpKind.Immediate8to64:
                case OpKind.Immediate32to64:
                    kind = OperandKind.Immediate;
                    d.Immediate = i.GetImmediate(n);
                    break;
                case OpKind.Immediate8_2nd:
                    kind = OperandKind.Immediate;
                    d.Immediate2 = i.Immediate8_2nd;
                    break;
                case OpKind.NearBranch16:
                case OpKind.NearBranch32:
                case OpKind.NearBranch64:
                    kind = OperandKind.Branch;
                    d.Immediate = i.NearBranch64 - i.NextIP;
                    break;
                default:
                    kind = OperandKind.Other; // string-operand kinds (seg:[rsi], es:[rdi]) are implied by the op
                    break;
            }
            switch (n)
            {
                case 0: d.Kind0 = kind; d.Reg0 = reg; d.Size = size; break;
                case 1: d.Kind1 = kind; d.Reg1 = reg; d.Size1 = size; break;
                default: d.Kind2 = kind; d.Reg2 = reg; break;
            }
        }
        if (i.ConditionCode != ConditionCode.None) d.Condition = (byte)(i.ConditionCode - 1);
        FixSizes(ref d, i);
        Specialise(ref d);
        d.Handler = EmulatedVcpu.SelectHandler(ref d);
        return d;
    }

    /// <summary>Rewrite the commonest forms (32/64-bit register destination, no lock) to their specialised ops.</summary>
    private static void Specialise(ref DecodedInstruction d)
    {
        if (d.Lock || (d.Size != 4 && d.Size != 8) || d.OperandCount3) return;
        bool reg0 = d.Kind0 == OperandKind.Register;
        if (d.Op == Op.Mov)
        {
            if (reg0 && d.Kind1 == OperandKind.Register && d.Size1 == d.Size) d.Op = d.Size == 8 ? Op.MovRR64 : Op.MovRR32;
            else if (reg0 && d.Kind1 == OperandKind.Immediate)
            {
                d.Op = Op.MovRI;
                d.Immediate &= Alu.Mask(d.Size);
            }
            else if (reg0 && d.Kind1 == OperandKind.Memory && d.Size1 == d.Size) d.Op = d.Size == 8 ? Op.MovRM64 : Op.MovRM32;
            else if (d.Kind0 == OperandKind.Memory && d.Kind1 == OperandKind.Register && d.Size1 == d.Size) d.Op = Op.MovMR;
            return;
        }
        if (!reg0) return;
        if (d.Kind1 == OperandKind.None)
        {
            if (d.Op == Op.Inc) d.Op = Op.IncR;
            else if (d.Op == Op.Dec) d.Op = Op.DecR;
            return;
        }
        if (d.Op is Op.Shl or Op.Shr or Op.Sar && d.Kind1 == OperandKind.Immediate)
        {
            // A count that masks to zero changes no flags: left to the generic form.
            ulong count = d.Immediate & (d.Size == 8 ? 0x3FUL : 0x1FUL);
            if (count == 0) return;
            d.Immediate = count;
            d.Op = d.Op switch { Op.Shl => Op.ShlRI, Op.Shr => Op.ShrRI, _ => Op.SarRI };
            return;
        }
        bool rr = d.Kind1 == OperandKind.Register && d.Size1 == d.Size;
        bool ri = d.Kind1 == OperandKind.Immediate;
        if (!rr && !ri) return;
        var op = d.Op switch
        {
            Op.Add => rr ? Op.AddRR : Op.AddRI,
            Op.Sub => rr ? Op.SubRR : Op.SubRI,
            Op.Cmp => rr ? Op.CmpRR : Op.CmpRI,
            Op.And => rr ? Op.AndRR : Op.AndRI,
            Op.Or => rr ? Op.OrRR : Op.OrRI,
            Op.Xor => rr ? Op.XorRR : Op.XorRI,
            Op.Test => rr ? Op.TestRR : Op.TestRI,
            _ => d.Op,
        };
        if (op == d.Op) return;
        d.Op = op;
        if (ri) d.Immediate &= Alu.Mask(d.Size);
    }

    private static void FillMemory(ref DecodedInstruction d, in Instruction i)
    {
        var b = i.MemoryBase;
        var x = i.MemoryIndex;
        if (b == Register.RIP || b == Register.EIP)
        {
            d.MemBase = RipRegister;
            d.Displacement = (long)(i.MemoryDisplacement64 - i.NextIP);
            d.AddressSize32 = b == Register.EIP;
        }
        else
        {
            d.Displacement = (long)i.MemoryDisplacement64;
            if (b != Register.None) { d.MemBase = (byte)(b.GetFullRegister() - Register.RAX); d.AddressSize32 = b.GetSize() == 4; }
            if (x != Register.None) { d.MemIndex = (byte)(x.GetFullRegister() - Register.RAX); d.AddressSize32 |= x.GetSize() == 4; }
        }
        d.MemScaleShift = (byte)System.Numerics.BitOperations.Log2((uint)Math.Max(1, i.MemoryIndexScale));
        d.MemSegment = i.MemorySegment switch
        {
            Register.FS => SegFs,
            Register.GS => SegGs,
            // 64-bit mode ignores ES, CS, SS and DS overrides (SDM vol. 1, 3.7.4.1): the default segment stands, SS
            // for an RSP or RBP base (which decides #SS rather than #GP for a non-canonical address).
            _ => b.GetFullRegister() is Register.RSP or Register.RBP ? SegStack : SegDefault,
        };
        d.EaBase = d.MemBase == RipRegister ? EmulatedVcpu.NextRipSlot : d.MemBase == NoRegister ? EmulatedVcpu.ZeroSlot : d.MemBase;
        d.EaIndex = d.MemIndex == NoRegister ? EmulatedVcpu.ZeroSlot : d.MemIndex;
        d.EaFlat = !d.AddressSize32 && d.MemSegment is SegDefault or SegStack;
        d.EaStack = d.MemSegment == SegStack;
    }

    /// <summary>Sizes implied by the operation rather than by operand 0.</summary>
    private static void FixSizes(ref DecodedInstruction d, in Instruction i)
    {
        switch (d.Op)
        {
            case Op.Push:
            case Op.Pop:
            case Op.PopSegment:
            case Op.Pushf:
            case Op.Popf:
                d.Size = (byte)Math.Abs(i.StackPointerIncrement);
                break;
            case Op.Movs: case Op.Stos: case Op.Lods: case Op.Cmps: case Op.Scas: case Op.Ins: case Op.Outs:
                d.Size = (byte)i.MemorySize.GetSize();
                if (d.Size == 0) d.Size = 1;
                d.AddressSize32 = i.Op0Kind is OpKind.MemoryESEDI or OpKind.MemorySegESI
                                  || i.Op1Kind is OpKind.MemoryESEDI or OpKind.MemorySegESI;
                d.MemSegment = i.MemorySegment switch { Register.FS => SegFs, Register.GS => SegGs, _ => SegDefault };
                break;
            case Op.Cbw: d.Size = 2; break;
            case Op.Cwde: d.Size = 4; break;
            case Op.Cdqe: d.Size = 8; break;
            case Op.Cwd: d.Size = 2; break;
            case Op.Cdq: d.Size = 4; break;
            case Op.Cqo: d.Size = 8; break;
            case Op.Ret:
                d.Size = (byte)(i.Code is Code.Retnw or Code.Retnw_imm16 ? 2 : 8);
                break;
            case Op.Call:
            case Op.Jmp:
                if (d.Size == 0) d.Size = 8;
                break;
            case Op.Enter:
            case Op.Leave:
                d.Size = (byte)(i.Code is Code.Enterw_imm16_imm8 or Code.Leavew ? 2 : 8);
                break;
            case Op.Loop: case Op.Loope: case Op.Loopne: case Op.Jrcxz:
                d.AddressSize32 = i.Code is Code.Loop_rel8_64_ECX or Code.Loope_rel8_64_ECX or Code.Loopne_rel8_64_ECX
                    or Code.Jecxz_rel8_64;
                break;
        }
    }

    private static byte RegisterCode(Register r)
    {
        if (r >= Register.AH && r <= Register.BH) return (byte)(HighByte | (r - Register.AH));
        return (byte)(r.GetFullRegister() - Register.RAX);
    }

    private static bool UsesMmx(in Instruction i) =>
        i.Op0Kind == OpKind.Register && i.Op0Register.IsMM() || i.Op1Kind == OpKind.Register && i.Op1Register.IsMM();

    private static Op Classify(in Instruction i)
    {
        switch (i.Mnemonic)
        {
            case Mnemonic.Nop: case Mnemonic.Pause: case Mnemonic.Lfence: case Mnemonic.Mfence: case Mnemonic.Sfence:
            case Mnemonic.Endbr64: case Mnemonic.Endbr32: case Mnemonic.Prefetch: case Mnemonic.Prefetchw:
            case Mnemonic.Prefetcht0: case Mnemonic.Prefetcht1: case Mnemonic.Prefetcht2: case Mnemonic.Prefetchnta:
            case Mnemonic.Reservednop:
                return Op.Nop;
            case Mnemonic.Ud0: case Mnemonic.Ud1: case Mnemonic.Ud2: return Op.Ud;
            // SSE/SSE2 data movement and bitwise logic (the forms gcc emits for copies, zeroing and masks).
            // MMX-register forms stay unimplemented.
            case Mnemonic.Movaps: case Mnemonic.Movups: case Mnemonic.Movapd: case Mnemonic.Movupd:
            case Mnemonic.Movdqa: case Mnemonic.Movdqu: case Mnemonic.Movntdq: case Mnemonic.Movntps: case Mnemonic.Movntpd:
                return Op.SseMov;
            case Mnemonic.Movnti: return Op.Mov;
            case Mnemonic.Cmpps: case Mnemonic.Cmppd: case Mnemonic.Cmpss:
            case Mnemonic.Shufps: case Mnemonic.Shufpd: case Mnemonic.Movhps: case Mnemonic.Movlps: case Mnemonic.Movhpd:
            case Mnemonic.Movlpd: case Mnemonic.Movhlps: case Mnemonic.Movlhps: case Mnemonic.Pshuflw: case Mnemonic.Pshufhw:
            case Mnemonic.Cvtdq2pd: case Mnemonic.Cvtdq2ps: case Mnemonic.Cvtps2pd: case Mnemonic.Cvtpd2ps:
            case Mnemonic.Cvttps2dq: case Mnemonic.Cvttpd2dq: case Mnemonic.Cvtps2dq: case Mnemonic.Cvtpd2dq:
                return Op.SseExtra;
            case Mnemonic.Packsswb: case Mnemonic.Packssdw: case Mnemonic.Packuswb: case Mnemonic.Paddsb: case Mnemonic.Paddsw:
            case Mnemonic.Paddusb: case Mnemonic.Paddusw: case Mnemonic.Psubsb: case Mnemonic.Psubsw: case Mnemonic.Psubusb:
            case Mnemonic.Psubusw: case Mnemonic.Pmullw: case Mnemonic.Pmulhw: case Mnemonic.Pmulhuw: case Mnemonic.Pmuludq:
            case Mnemonic.Pmaddwd: case Mnemonic.Pavgb: case Mnemonic.Pavgw: case Mnemonic.Pminsw: case Mnemonic.Pmaxsw:
            case Mnemonic.Psadbw: case Mnemonic.Pextrw: case Mnemonic.Pinsrw:
                // pextrw's 66 0F 3A 15 form is SSE4.1, which this CPU does not have.
                return UsesMmx(i) || i.Code is Code.Pextrw_r32m16_xmm_imm8 or Code.Pextrw_r64m16_xmm_imm8
                    ? Op.Unimplemented : Op.SseExtra;
            case Mnemonic.Movd: return UsesMmx(i) ? Op.Unimplemented : Op.SseMovd;
            case Mnemonic.Movq:
                if (UsesMmx(i)) return Op.Unimplemented;
                // movq with a GPR operand is the REX.W form of movd.
                return i.Op0Kind == OpKind.Register && i.Op0Register.IsGPR()
                       || i.Op1Kind == OpKind.Register && i.Op1Register.IsGPR() ? Op.SseMovd : Op.SseMovq;
            case Mnemonic.Pxor: case Mnemonic.Por: case Mnemonic.Pand: case Mnemonic.Pandn:
                return UsesMmx(i) ? Op.Unimplemented : Op.SseLogic;
            case Mnemonic.Xorps: case Mnemonic.Xorpd: case Mnemonic.Orps: case Mnemonic.Orpd:
            case Mnemonic.Andps: case Mnemonic.Andpd: case Mnemonic.Andnps: case Mnemonic.Andnpd:
                return Op.SseLogic;
            case Mnemonic.Ldmxcsr: return Op.Ldmxcsr;
            // x87: what compilers emit for long double (see EmulatedVcpu.X87.cs); transcendentals, fprem and the
            // environment save/restore forms stay unimplemented.
            case Mnemonic.Fld: case Mnemonic.Fst: case Mnemonic.Fstp: case Mnemonic.Fild: case Mnemonic.Fist:
            case Mnemonic.Fistp: case Mnemonic.Fisttp: case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd:
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub: case Mnemonic.Fsubr: case Mnemonic.Fsubrp:
            case Mnemonic.Fisubr: case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul: case Mnemonic.Fdiv:
            case Mnemonic.Fdivp: case Mnemonic.Fidiv: case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr:
            case Mnemonic.Fchs: case Mnemonic.Fabs: case Mnemonic.Fsqrt: case Mnemonic.Frndint: case Mnemonic.Fscale:
            case Mnemonic.Fxam: case Mnemonic.Ftst: case Mnemonic.Fcom: case Mnemonic.Fcomp: case Mnemonic.Fcompp:
            case Mnemonic.Fucom: case Mnemonic.Fucomp: case Mnemonic.Fucompp: case Mnemonic.Ficom: case Mnemonic.Ficomp:
            case Mnemonic.Fcomi: case Mnemonic.Fcomip: case Mnemonic.Fucomi: case Mnemonic.Fucomip:
            case Mnemonic.Fxch: case Mnemonic.Fld1: case Mnemonic.Fldz: case Mnemonic.Fldpi: case Mnemonic.Fldl2e:
            case Mnemonic.Fldl2t: case Mnemonic.Fldlg2: case Mnemonic.Fldln2: case Mnemonic.Fnstcw: case Mnemonic.Fldcw:
            case Mnemonic.Fnstsw: case Mnemonic.Wait: case Mnemonic.Fninit: case Mnemonic.Fnclex: case Mnemonic.Ffree:
            case Mnemonic.Ffreep: case Mnemonic.Fincstp: case Mnemonic.Fdecstp: case Mnemonic.Fnop:
            case Mnemonic.Fcmovb: case Mnemonic.Fcmove: case Mnemonic.Fcmovbe: case Mnemonic.Fcmovu: case Mnemonic.Fcmovnb:
            case Mnemonic.Fcmovne: case Mnemonic.Fcmovnbe: case Mnemonic.Fcmovnu:
                return Op.X87;
            case Mnemonic.Fxsave: case Mnemonic.Fxsave64: return Op.Fxsave;
            case Mnemonic.Fxrstor: case Mnemonic.Fxrstor64: return Op.Fxrstor;
            case Mnemonic.Paddb: case Mnemonic.Paddw: case Mnemonic.Paddd: case Mnemonic.Paddq:
            case Mnemonic.Psubb: case Mnemonic.Psubw: case Mnemonic.Psubd: case Mnemonic.Psubq:
            case Mnemonic.Pcmpeqb: case Mnemonic.Pcmpeqw: case Mnemonic.Pcmpeqd:
            case Mnemonic.Pmovmskb: case Mnemonic.Pshufd:
            case Mnemonic.Pcmpgtb: case Mnemonic.Pcmpgtw: case Mnemonic.Pcmpgtd: case Mnemonic.Pminub: case Mnemonic.Pmaxub:
            case Mnemonic.Punpcklbw: case Mnemonic.Punpcklwd: case Mnemonic.Punpckldq: case Mnemonic.Punpcklqdq:
            case Mnemonic.Punpckhbw: case Mnemonic.Punpckhwd: case Mnemonic.Punpckhdq: case Mnemonic.Punpckhqdq:
            case Mnemonic.Psllw: case Mnemonic.Pslld: case Mnemonic.Psllq: case Mnemonic.Psrlw: case Mnemonic.Psrld:
            case Mnemonic.Psrlq: case Mnemonic.Psraw: case Mnemonic.Psrad: case Mnemonic.Pslldq: case Mnemonic.Psrldq:
                return UsesMmx(i) ? Op.Unimplemented : Op.SsePackedInt;
            case Mnemonic.Addps: case Mnemonic.Addpd: case Mnemonic.Subps: case Mnemonic.Subpd:
            case Mnemonic.Mulps: case Mnemonic.Mulpd: case Mnemonic.Divps: case Mnemonic.Divpd:
            case Mnemonic.Sqrtps: case Mnemonic.Sqrtpd: case Mnemonic.Minps: case Mnemonic.Minpd:
            case Mnemonic.Maxps: case Mnemonic.Maxpd:
                return Op.SsePackedFloat;
            case Mnemonic.Movmskps: case Mnemonic.Movmskpd:
            case Mnemonic.Unpcklps: case Mnemonic.Unpckhps: case Mnemonic.Unpcklpd: case Mnemonic.Unpckhpd:
                return Op.SsePackedInt;
            case Mnemonic.Addsd: case Mnemonic.Subsd: case Mnemonic.Mulsd: case Mnemonic.Divsd: case Mnemonic.Sqrtsd:
            case Mnemonic.Minsd: case Mnemonic.Maxsd:
            case Mnemonic.Addss: case Mnemonic.Subss: case Mnemonic.Mulss: case Mnemonic.Divss: case Mnemonic.Sqrtss:
            case Mnemonic.Minss: case Mnemonic.Maxss: case Mnemonic.Movss:
            case Mnemonic.Comisd: case Mnemonic.Ucomisd: case Mnemonic.Comiss: case Mnemonic.Ucomiss:
            case Mnemonic.Cvtsi2sd: case Mnemonic.Cvtsi2ss: case Mnemonic.Cvttsd2si: case Mnemonic.Cvttss2si:
            case Mnemonic.Cvtsd2ss: case Mnemonic.Cvtss2sd: case Mnemonic.Cvtsd2si: case Mnemonic.Cvtss2si:
                return Op.SseScalar;
            case Mnemonic.Stmxcsr: return Op.Stmxcsr;
            case Mnemonic.Mov:
                // mov to/from control and debug registers is privileged; sreg moves are plain Mov.
                return i.Op0Register.IsCR() || i.Op1Register.IsCR() || i.Op0Register.IsDR() || i.Op1Register.IsDR()
                    ? Op.Privileged
                    : i.Op0Register.IsSegmentRegister() ? Op.MovToSegment : Op.Mov;
            case Mnemonic.Movzx: return Op.Movzx;
            case Mnemonic.Movsx: case Mnemonic.Movsxd: return Op.Movsx;
            case Mnemonic.Lea: return Op.Lea;
            case Mnemonic.Push: return Op.Push; // push fs/gs pushes the selector
            case Mnemonic.Pop:
                return i.Op0Kind == OpKind.Register && i.Op0Register.IsSegmentRegister() ? Op.PopSegment : Op.Pop;
            case Mnemonic.Xchg: return Op.Xchg;
            case Mnemonic.Cmpxchg: return Op.Cmpxchg;
            case Mnemonic.Xadd: return Op.Xadd;
            case Mnemonic.Cmpxchg8b: return Op.Cmpxchg8b;
            case Mnemonic.Cmpxchg16b: return Op.Cmpxchg16b;
            case Mnemonic.Add: return Op.Add;
            case Mnemonic.Or: return Op.Or;
            case Mnemonic.Adc: return Op.Adc;
            case Mnemonic.Sbb: return Op.Sbb;
            case Mnemonic.And: return Op.And;
            case Mnemonic.Sub: return Op.Sub;
            case Mnemonic.Xor: return Op.Xor;
            case Mnemonic.Cmp: return Op.Cmp;
            case Mnemonic.Test: return Op.Test;
            case Mnemonic.Inc: return Op.Inc;
            case Mnemonic.Dec: return Op.Dec;
            case Mnemonic.Neg: return Op.Neg;
            case Mnemonic.Not: return Op.Not;
            case Mnemonic.Shl: case Mnemonic.Sal: return Op.Shl;
            case Mnemonic.Shr: return Op.Shr;
            case Mnemonic.Sar: return Op.Sar;
            case Mnemonic.Rol: return Op.Rol;
            case Mnemonic.Ror: return Op.Ror;
            case Mnemonic.Rcl: return Op.Rcl;
            case Mnemonic.Rcr: return Op.Rcr;
            case Mnemonic.Shld: return Op.Shld;
            case Mnemonic.Shrd: return Op.Shrd;
            case Mnemonic.Mul: return Op.Mul;
            case Mnemonic.Imul: return Op.Imul;
            case Mnemonic.Div: return Op.Div;
            case Mnemonic.Idiv: return Op.Idiv;
            case Mnemonic.Cbw: return Op.Cbw;
            case Mnemonic.Cwde: return Op.Cwde;
            case Mnemonic.Cdqe: return Op.Cdqe;
            case Mnemonic.Cwd: return Op.Cwd;
            case Mnemonic.Cdq: return Op.Cdq;
            case Mnemonic.Cqo: return Op.Cqo;
            case Mnemonic.Bt: return Op.Bt;
            case Mnemonic.Bts: return Op.Bts;
            case Mnemonic.Btr: return Op.Btr;
            case Mnemonic.Btc: return Op.Btc;
            case Mnemonic.Bsf: return Op.Bsf;
            case Mnemonic.Bsr: return Op.Bsr;
            case Mnemonic.Lzcnt: return Op.Lzcnt;
            case Mnemonic.Tzcnt: return Op.Tzcnt;
            case Mnemonic.Popcnt: return Op.Popcnt;
            case Mnemonic.Bswap: return Op.Bswap;
            case Mnemonic.Movbe: return Op.Movbe;
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae: case Mnemonic.Sete:
            case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta: case Mnemonic.Sets: case Mnemonic.Setns:
            case Mnemonic.Setp: case Mnemonic.Setnp: case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle:
            case Mnemonic.Setg:
                return Op.Setcc;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae: case Mnemonic.Cmove:
            case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova: case Mnemonic.Cmovs: case Mnemonic.Cmovns:
            case Mnemonic.Cmovp: case Mnemonic.Cmovnp: case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle:
            case Mnemonic.Cmovg:
                return Op.Cmovcc;
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae: case Mnemonic.Je:
            case Mnemonic.Jne: case Mnemonic.Jbe: case Mnemonic.Ja: case Mnemonic.Js: case Mnemonic.Jns:
            case Mnemonic.Jp: case Mnemonic.Jnp: case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle:
            case Mnemonic.Jg:
                return Op.Jcc;
            case Mnemonic.Jmp: return i.IsJmpFar || i.IsJmpFarIndirect ? Op.Unimplemented : Op.Jmp;
            case Mnemonic.Call: return i.IsCallFar || i.IsCallFarIndirect ? Op.Unimplemented : Op.Call;
            case Mnemonic.Ret: return Op.Ret;
            case Mnemonic.Loop: return Op.Loop;
            case Mnemonic.Loope: return Op.Loope;
            case Mnemonic.Loopne: return Op.Loopne;
            case Mnemonic.Jrcxz: case Mnemonic.Jecxz: return Op.Jrcxz;
            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsq: return Op.Movs;
            case Mnemonic.Movsd:
                return i.Code == Code.Movsd_m32_m32 ? Op.Movs
                    : i.Code is Code.Movsd_xmm_xmmm64 or Code.Movsd_xmmm64_xmm ? Op.SseScalar : Op.Unimplemented;
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd: case Mnemonic.Stosq: return Op.Stos;
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd: case Mnemonic.Lodsq: return Op.Lods;
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsq: return Op.Cmps;
            case Mnemonic.Cmpsd:
                return i.Code == Code.Cmpsd_m32_m32 ? Op.Cmps : i.Code == Code.Cmpsd_xmm_xmmm64_imm8 ? Op.SseExtra : Op.Unimplemented;
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd: case Mnemonic.Scasq: return Op.Scas;
            case Mnemonic.Enter: return Op.Enter;
            case Mnemonic.Leave: return Op.Leave;
            case Mnemonic.Pushf: case Mnemonic.Pushfq: return Op.Pushf;
            case Mnemonic.Popf: case Mnemonic.Popfq: return Op.Popf;
            case Mnemonic.Lahf: return Op.Lahf;
            case Mnemonic.Sahf: return Op.Sahf;
            case Mnemonic.Clc: return Op.Clc;
            case Mnemonic.Stc: return Op.Stc;
            case Mnemonic.Cmc: return Op.Cmc;
            case Mnemonic.Cld: return Op.Cld;
            case Mnemonic.Std: return Op.Std;
            case Mnemonic.Cli: return Op.Cli;
            case Mnemonic.Sti: return Op.Sti;
            case Mnemonic.Cpuid: return Op.Cpuid;
            case Mnemonic.Rdtsc: return Op.Rdtsc;
            case Mnemonic.Rdtscp: return Op.Rdtscp;
            case Mnemonic.Syscall: return Op.Syscall;
            case Mnemonic.Int3: return Op.Int3;
            case Mnemonic.Int: return Op.IntN;
            case Mnemonic.Int1: return Op.Int1;
            case Mnemonic.Hlt: return Op.Hlt;
            case Mnemonic.In: return Op.In;
            case Mnemonic.Out: return Op.Out;
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd: return Op.Ins;
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd: return Op.Outs;
            case Mnemonic.Iretq: return Op.Iretq;
            // System instructions that fault with #GP(0) at CPL > 0 (Intel SDM vol. 2, each instruction's
            // "Protected Mode Exceptions": "If the current privilege level is not 0").
            case Mnemonic.Lgdt: case Mnemonic.Lidt: case Mnemonic.Lldt: case Mnemonic.Ltr: case Mnemonic.Invlpg:
            case Mnemonic.Invpcid: case Mnemonic.Wbinvd: case Mnemonic.Wbnoinvd: case Mnemonic.Invd:
            case Mnemonic.Rdmsr: case Mnemonic.Wrmsr: case Mnemonic.Swapgs: case Mnemonic.Sysret:
            case Mnemonic.Sysretq: case Mnemonic.Sysexit: case Mnemonic.Sysexitq: case Mnemonic.Clts:
            case Mnemonic.Lmsw: case Mnemonic.Rdpmc: case Mnemonic.Xsetbv: case Mnemonic.Monitor: case Mnemonic.Mwait:
            case Mnemonic.Invlpga: case Mnemonic.Invept: case Mnemonic.Invvpid: case Mnemonic.Iretd:
                return Op.Privileged;
            default:
                return Op.Unimplemented;
        }
    }
}
