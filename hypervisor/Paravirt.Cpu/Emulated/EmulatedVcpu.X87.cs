using Iced.Intel;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// The x87 instructions compilers emit for <c>long double</c>: loads and stores of every memory format, the
/// arithmetic group in all its operand forms, compares (fcom*/fucom*/fcomi*/ftst/fxam), fcmovcc, fxch, the
/// constants, control/status word access and stack management. Arithmetic is <see cref="SoftFloat80"/>: 80-bit,
/// correctly rounded under FCW's precision and rounding control. Exceptions set FSW's sticky flags; an unmasked
/// one sets ES and B and the next waiting x87 instruction raises #MF (the destination receives the masked
/// response, a documented simplification).
/// </summary>
public sealed unsafe partial class EmulatedVcpu
{
    private const ushort FswC0 = 0x100, FswC1 = 0x200, FswC2 = 0x400, FswC3 = 0x4000, FswSf = 0x40, FswEs = 0x80,
        FswB = 0x8000, FswTopMask = 0x3800, FswExceptions = 0x3F;

    /// <summary>Stack fault of the current instruction: 0 none, 1 underflow (C1 = 0), 2 overflow (C1 = 1).</summary>
    private int _fpStackFault;

    private int FpTop => (Registers.Fsw >> 11) & 7;
    private int FpPhys(int i) => (FpTop + i) & 7;
    private bool FpEmpty(int i) => (Registers.FtwAbridged & (1 << FpPhys(i))) == 0;

    private Fp80 FpRaw(int i)
    {
        int p = FpPhys(i);
        return new Fp80(Registers.FpSignExponent[p], Registers.FpMantissa[p]);
    }

    /// <summary>ST(i), or on an empty register a stack underflow (IE, SF, C1 = 0) and the indefinite QNaN.</summary>
    private Fp80 FpRead(int i, ref FpContext c)
    {
        if (FpEmpty(i))
        {
            c.Flags |= FpContext.IE;
            _fpStackFault = 1;
            return Fp80.Indefinite;
        }
        return FpRaw(i);
    }

    private void FpWrite(int i, Fp80 v)
    {
        int p = FpPhys(i);
        Registers.FpSignExponent[p] = v.SignExp;
        Registers.FpMantissa[p] = v.Mant;
        Registers.FtwAbridged |= (byte)(1 << p);
    }

    private void FpPush(Fp80 v, ref FpContext c)
    {
        int top = (FpTop - 1) & 7;
        if ((Registers.FtwAbridged & (1 << top)) != 0 && _fpStackFault == 0)
        {
            // Stack overflow: IE, SF, C1 = 1; the masked response pushes the indefinite QNaN.
            c.Flags |= FpContext.IE;
            _fpStackFault = 2;
            v = Fp80.Indefinite;
        }
        Registers.Fsw = (ushort)((Registers.Fsw & ~FswTopMask) | (top << 11));
        FpWrite(0, v);
    }

    private void FpPop()
    {
        Registers.FtwAbridged &= (byte)~(1 << FpTop);
        Registers.Fsw = (ushort)((Registers.Fsw & ~FswTopMask) | (((FpTop + 1) & 7) << 11));
    }

    /// <summary>Fold an operation's exceptions into FSW: sticky flags, SF, C1 (stack fault direction or rounded
    /// up), and ES/B when an exception is unmasked.</summary>
    private void FpFinish(ref FpContext c, bool c1FromRounding = true, bool keepC1 = false)
    {
        var r = Registers;
        // A stack fault reports IE and SF only: the operation (and its operand conversions) did not happen.
        if (_fpStackFault != 0) c.Flags = FpContext.IE;
        // An invalid operation or a division by zero does not also report a denormal operand (observed on
        // hardware by the differential tests).
        if ((c.Flags & (FpContext.IE | FpContext.ZE)) != 0) c.Flags &= unchecked((ushort)~FpContext.DE);
        int fsw = r.Fsw | c.Flags;
        if (_fpStackFault != 0)
        {
            fsw |= FswSf;
            fsw = _fpStackFault == 2 ? fsw | FswC1 : fsw & ~FswC1;
        }
        else if (!keepC1)
        {
            fsw = c1FromRounding && c.RoundedUp ? fsw | FswC1 : fsw & ~FswC1;
        }
        fsw = (fsw & FswExceptions & ~r.Fcw) != 0 ? fsw | FswEs | FswB : fsw & ~(FswEs | FswB);
        r.Fsw = (ushort)fsw;
        _fpStackFault = 0;
    }

    private void FpSetConditions(int c3c2c0)
    {
        int fsw = Registers.Fsw & ~(FswC0 | FswC2 | FswC3);
        if ((c3c2c0 & 1) != 0) fsw |= FswC0;
        if ((c3c2c0 & 2) != 0) fsw |= FswC2;
        if ((c3c2c0 & 4) != 0) fsw |= FswC3;
        Registers.Fsw = (ushort)fsw;
    }

    /// <summary>A memory source operand as a double-extended value (fld/arithmetic/compare forms).</summary>
    private Fp80 FpLoadMemory(ref DecodedInstruction d, bool integer, ref FpContext c, bool operand = true)
    {
        ulong ea = Ea(ref d);
        if (integer)
        {
            return d.Size switch
            {
                2 => SoftFloat80.FromInteger((short)Read(ea, 2)),
                4 => SoftFloat80.FromInteger((int)Read(ea, 4)),
                _ => SoftFloat80.FromInteger((long)Read(ea, 8)),
            };
        }
        switch (d.Size)
        {
            case 4: return SoftFloat80.FromIeee(Read(ea, 4), 23, 8, !operand, ref c);
            case 8: return SoftFloat80.FromIeee(Read(ea, 8), 52, 11, !operand, ref c);
            default:
            {
                ulong mant = Read(ea, 8);
                ushort se = (ushort)Read(ea + 8, 2);
                return new Fp80(se, mant);
            }
        }
    }

    private void ExecuteX87(ref DecodedInstruction d)
    {
        var regs = Registers;
        var code = d.Code;
        bool noWait = code is Code.Fnstcw_m2byte or Code.Fnstsw_m2byte or Code.Fnstsw_AX or Code.Fninit or Code.Fnclex;
        // A pending unmasked exception is delivered as #MF by the next waiting x87 instruction (SDM vol. 1, 8.6).
        if (!noWait && (regs.Fsw & FswEs) != 0) RaiseFault(ExceptionVector.FloatingPoint, 0, hasErrorCode: false);
        var c = FpContext.FromControlWord(regs.Fcw);
        _fpStackFault = 0;
        var mnemonic = code.Mnemonic();
        switch (mnemonic)
        {
            case Mnemonic.Wait:
            case Mnemonic.Fnop:
                return;
            case Mnemonic.Fninit:
                regs.Fcw = VcpuRegisters.FcwDefault;
                regs.Fsw = 0;
                regs.FtwAbridged = 0;
                return;
            case Mnemonic.Fnclex:
                regs.Fsw &= unchecked((ushort)~(FswExceptions | FswSf | FswEs | FswB));
                return;
            case Mnemonic.Fnstcw:
                Write(Ea(ref d), 2, regs.Fcw);
                return;
            case Mnemonic.Fldcw:
            {
                // Bit 6 reads as 1 and bits 13..15 as 0 on Intel parts.
                regs.Fcw = (ushort)((Read(Ea(ref d), 2) & 0x1F3F) | 0x40);
                FpFinish(ref c, keepC1: true);
                return;
            }
            case Mnemonic.Fnstsw:
                if (d.Kind0 == OperandKind.Register) SetReg(0, 2, regs.Fsw);
                else Write(Ea(ref d), 2, regs.Fsw);
                return;

            // ---- loads ----
            case Mnemonic.Fld:
            case Mnemonic.Fild:
            {
                Fp80 v = d.Kind0 == OperandKind.X87 ? FpRead(d.Reg0, ref c) : FpLoadMemory(ref d, mnemonic == Mnemonic.Fild, ref c, operand: false);
                FpPush(v, ref c);
                FpFinish(ref c, c1FromRounding: false);
                return;
            }
            case Mnemonic.Fld1: FpPushConstant(Fp80.One, 0, ref c); return;
            case Mnemonic.Fldz: FpPushConstant(Fp80.Zero, 0, ref c); return;
            // Constants: the 64-bit significand rounded to nearest, and the direction the remaining bits lean
            // (1: rounding down or toward zero gives one less; 2: rounding up gives one more) (SDM vol. 1, 8.3.8).
            case Mnemonic.Fldpi: FpPushConstant(new Fp80(0x4000, 0xC90F_DAA2_2168_C235), 1, ref c); return;
            case Mnemonic.Fldl2e: FpPushConstant(new Fp80(0x3FFF, 0xB8AA_3B29_5C17_F0BC), 1, ref c); return;
            case Mnemonic.Fldl2t: FpPushConstant(new Fp80(0x4000, 0xD49A_784B_CD1B_8AFE), 2, ref c); return;
            case Mnemonic.Fldlg2: FpPushConstant(new Fp80(0x3FFD, 0x9A20_9A84_FBCF_F799), 1, ref c); return;
            case Mnemonic.Fldln2: FpPushConstant(new Fp80(0x3FFE, 0xB172_17F7_D1CF_79AC), 1, ref c); return;

            // ---- stores ----
            case Mnemonic.Fst:
            case Mnemonic.Fstp:
            {
                Fp80 v = FpRead(0, ref c);
                bool pop = mnemonic == Mnemonic.Fstp;
                if (d.Kind0 == OperandKind.X87)
                {
                    FpWrite(d.Reg0, v);
                }
                else
                {
                    ulong ea = Ea(ref d);
                    switch (d.Size)
                    {
                        case 4: Write(ea, 4, SoftFloat80.ToIeee(v, 23, 8, ref c)); break;
                        case 8: Write(ea, 8, SoftFloat80.ToIeee(v, 52, 11, ref c)); break;
                        default:
                            ProbeWritable(ea, 10);
                            Write(ea, 8, v.Mant);
                            Write(ea + 8, 2, v.SignExp);
                            break;
                    }
                }
                if (pop) FpPop();
                FpFinish(ref c);
                return;
            }
            case Mnemonic.Fist:
            case Mnemonic.Fistp:
            case Mnemonic.Fisttp:
            {
                Fp80 v = FpRead(0, ref c);
                long n = SoftFloat80.ToInteger(v, d.Size * 8, mnemonic == Mnemonic.Fisttp, ref c);
                Write(Ea(ref d), d.Size, (ulong)n);
                if (mnemonic != Mnemonic.Fist) FpPop();
                FpFinish(ref c);
                return;
            }

            // ---- arithmetic ----
            case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd:
            case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul:
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub:
            case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr:
            case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv:
            case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr:
                FpArithmetic(ref d, mnemonic, ref c);
                return;
            case Mnemonic.Fchs:
            case Mnemonic.Fabs:
            {
                Fp80 v = FpRead(0, ref c);
                if (_fpStackFault == 0) v.SignExp = mnemonic == Mnemonic.Fchs ? (ushort)(v.SignExp ^ 0x8000) : (ushort)(v.SignExp & 0x7FFF);
                FpWrite(0, v);
                FpFinish(ref c);
                return;
            }
            case Mnemonic.Fsqrt:
            {
                Fp80 v = FpRead(0, ref c);
                if (_fpStackFault == 0) v = SoftFloat80.Sqrt(v, ref c);
                FpWrite(0, v);
                FpFinish(ref c);
                return;
            }
            case Mnemonic.Frndint:
            {
                Fp80 v = FpRead(0, ref c);
                if (_fpStackFault == 0) v = SoftFloat80.RoundToIntegral(v, ref c);
                FpWrite(0, v);
                FpFinish(ref c);
                return;
            }
            case Mnemonic.Fscale:
            {
                Fp80 a = FpRead(0, ref c), b = FpRead(1, ref c);
                // fscale is exact but for overflow and underflow: precision control does not apply.
                c.Precision = 64;
                Fp80 v = _fpStackFault == 0 ? SoftFloat80.Scale(a, b, ref c) : Fp80.Indefinite;
                SoftFloat80.DropDenormalForNaN(a, b, 0, ref c);
                FpWrite(0, v);
                FpFinish(ref c);
                return;
            }

            // ---- compares ----
            case Mnemonic.Fcom: case Mnemonic.Fcomp: case Mnemonic.Fcompp: case Mnemonic.Ficom: case Mnemonic.Ficomp:
            case Mnemonic.Fucom: case Mnemonic.Fucomp: case Mnemonic.Fucompp: case Mnemonic.Ftst:
            {
                ushort before = c.Flags;
                Fp80 a = FpRead(0, ref c);
                Fp80 b;
                if (mnemonic == Mnemonic.Ftst) b = Fp80.Zero;
                else if (d.Kind0 == OperandKind.Memory) b = FpLoadMemory(ref d, mnemonic is Mnemonic.Ficom or Mnemonic.Ficomp, ref c);
                else b = FpRead(d.Kind1 == OperandKind.X87 ? d.Reg1 : 1, ref c);
                bool quiet = mnemonic is Mnemonic.Fucom or Mnemonic.Fucomp or Mnemonic.Fucompp;
                int rel = _fpStackFault != 0 ? 2 : SoftFloat80.Compare(a, b, quiet, ref c);
                SoftFloat80.DropDenormalForNaN(a, b, before, ref c);
                FpSetConditions(rel switch { -1 => 0b001, 0 => 0b100, 1 => 0b000, _ => 0b111 });
                if (mnemonic is Mnemonic.Fcomp or Mnemonic.Fucomp or Mnemonic.Ficomp) FpPop();
                else if (mnemonic is Mnemonic.Fcompp or Mnemonic.Fucompp) { FpPop(); FpPop(); }
                FpFinish(ref c, c1FromRounding: false);
                return;
            }
            case Mnemonic.Fcomi: case Mnemonic.Fcomip: case Mnemonic.Fucomi: case Mnemonic.Fucomip:
            {
                Fp80 a = FpRead(0, ref c), b = FpRead(d.Reg1, ref c);
                bool quiet = mnemonic is Mnemonic.Fucomi or Mnemonic.Fucomip;
                int rel = _fpStackFault != 0 ? 2 : SoftFloat80.Compare(a, b, quiet, ref c);
                SoftFloat80.DropDenormalForNaN(a, b, 0, ref c);
                // ZF/PF/CF as ucomisd; OF, SF and AF cleared (SDM vol. 2, FCOMI).
                ulong f = rel switch { -1 => Flags.CF, 0 => Flags.ZF, 1 => 0, _ => Flags.ZF | Flags.PF | Flags.CF };
                _flags = (_flags & ~Flags.Status) | f;
                if (mnemonic is Mnemonic.Fcomip or Mnemonic.Fucomip) FpPop();
                // C1: 0 on a stack underflow, else left as it was (hardware; the SDM says "set to 0").
                FpFinish(ref c, keepC1: true);
                return;
            }
            case Mnemonic.Fxam:
            {
                int cls = FpEmpty(0) ? 0b101 : SoftFloat80.Examine(FpRaw(0));
                FpSetConditions(cls);
                Fp80 v = FpRaw(0);
                regs.Fsw = v.Sign ? (ushort)(regs.Fsw | FswC1) : (ushort)(regs.Fsw & ~FswC1);
                return;
            }

            // ---- register moves and stack management ----
            case Mnemonic.Fxch:
            {
                int i = d.Kind1 == OperandKind.X87 ? d.Reg1 : 1;
                Fp80 a = FpRead(0, ref c), b = FpRead(i, ref c);
                FpWrite(0, b);
                FpWrite(i, a);
                FpFinish(ref c, c1FromRounding: false);
                return;
            }
            case Mnemonic.Fcmovb: case Mnemonic.Fcmove: case Mnemonic.Fcmovbe: case Mnemonic.Fcmovu:
            case Mnemonic.Fcmovnb: case Mnemonic.Fcmovne: case Mnemonic.Fcmovnbe: case Mnemonic.Fcmovnu:
            {
                bool cond = mnemonic switch
                {
                    Mnemonic.Fcmovb => (_flags & Flags.CF) != 0,
                    Mnemonic.Fcmove => (_flags & Flags.ZF) != 0,
                    Mnemonic.Fcmovbe => (_flags & (Flags.CF | Flags.ZF)) != 0,
                    Mnemonic.Fcmovu => (_flags & Flags.PF) != 0,
                    Mnemonic.Fcmovnb => (_flags & Flags.CF) == 0,
                    Mnemonic.Fcmovne => (_flags & Flags.ZF) == 0,
                    Mnemonic.Fcmovnbe => (_flags & (Flags.CF | Flags.ZF)) == 0,
                    _ => (_flags & Flags.PF) == 0,
                };
                Fp80 a = FpRead(0, ref c), b = FpRead(d.Reg1, ref c);
                if (_fpStackFault != 0) FpWrite(0, Fp80.Indefinite);
                else if (cond) FpWrite(0, b);
                else FpWrite(0, a);
                FpFinish(ref c, keepC1: true); // C1 only changes on a stack underflow (SDM vol. 2, FCMOVcc)
                return;
            }
            case Mnemonic.Ffree:
            case Mnemonic.Ffreep:
                regs.FtwAbridged &= (byte)~(1 << FpPhys(d.Reg0));
                if (mnemonic == Mnemonic.Ffreep) FpPop();
                regs.Fsw &= unchecked((ushort)~FswC1); // cleared on hardware (the SDM calls C1 undefined)
                return;
            case Mnemonic.Fincstp:
            case Mnemonic.Fdecstp:
            {
                int top = (FpTop + (mnemonic == Mnemonic.Fincstp ? 1 : -1)) & 7;
                regs.Fsw = (ushort)((regs.Fsw & ~(FswTopMask | FswC1)) | (top << 11));
                return;
            }
            default:
                RaiseUnimplemented();
                return;
        }
    }

    private void FpPushConstant(Fp80 nearest, int lean, ref FpContext c)
    {
        Fp80 v = nearest;
        // lean 1: the nearest value is above the exact one (rounding down/toward zero gives one less);
        // lean 2: below it (rounding up gives one more).
        if (lean == 1 && c.Rounding is 1 or 3) v.Mant--;
        else if (lean == 2 && c.Rounding == 2) v.Mant++;
        FpPush(v, ref c);
        FpFinish(ref c, c1FromRounding: false);
    }

    /// <summary>fadd/fsub/fsubr/fmul/fdiv/fdivr in every form: ST(0) op m32/m64/m16int/m32int, ST(0) op ST(i),
    /// ST(i) op ST(0), and the popping forms.</summary>
    private void FpArithmetic(ref DecodedInstruction d, Mnemonic m, ref FpContext c)
    {
        int dest, src = 0;
        ushort before = c.Flags;
        Fp80 b;
        if (d.Kind0 == OperandKind.Memory)
        {
            bool integer = m is Mnemonic.Fiadd or Mnemonic.Fimul or Mnemonic.Fisub or Mnemonic.Fisubr or Mnemonic.Fidiv
                or Mnemonic.Fidivr;
            b = FpLoadMemory(ref d, integer, ref c);
            dest = 0;
        }
        else
        {
            dest = d.Reg0;
            src = d.Kind1 == OperandKind.X87 ? d.Reg1 : 0;
            b = FpRead(src, ref c);
        }
        Fp80 a = FpRead(dest, ref c);
        Fp80 r;
        if (_fpStackFault != 0)
        {
            r = Fp80.Indefinite;
        }
        else
        {
            switch (m)
            {
                case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd: r = SoftFloat80.Add(a, b, false, ref c); break;
                case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul: r = SoftFloat80.Multiply(a, b, ref c); break;
                case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub: r = SoftFloat80.Add(a, b, true, ref c); break;
                case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr: r = SoftFloat80.Add(b, a, true, ref c); break;
                case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv: r = SoftFloat80.Divide(a, b, ref c); break;
                default: r = SoftFloat80.Divide(b, a, ref c); break;
            }
            SoftFloat80.DropDenormalForNaN(a, b, before, ref c);
        }
        FpWrite(dest, r);
        if (m is Mnemonic.Faddp or Mnemonic.Fmulp or Mnemonic.Fsubp or Mnemonic.Fsubrp or Mnemonic.Fdivp or Mnemonic.Fdivrp) FpPop();
        FpFinish(ref c);
    }
}
