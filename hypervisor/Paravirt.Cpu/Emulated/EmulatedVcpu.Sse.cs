using System.Runtime.Intrinsics;
using Iced.Intel;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// SSE/SSE2 slice: 128-bit moves, movd/movq, the bitwise logic group and MXCSR load/store. Every handler reads
/// (and faults) before it writes, so a faulting instruction leaves no trace.
/// </summary>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>MXCSR bits software may set (flags, masks, RC, FZ, DAZ); others give #GP(0) on ldmxcsr.</summary>
    public const uint MxcsrMask = 0xFFFF;

    private void ExecuteSse(ref DecodedInstruction d)
    {
        ulong[] x = Registers.Xmm;
        switch (d.Op)
        {
            case Op.SseMov:
            {
                bool aligned = d.Code is Code.Movaps_xmm_xmmm128 or Code.Movaps_xmmm128_xmm or Code.Movapd_xmm_xmmm128
                    or Code.Movapd_xmmm128_xmm or Code.Movdqa_xmm_xmmm128 or Code.Movdqa_xmmm128_xmm
                    or Code.Movntdq_m128_xmm or Code.Movntps_m128_xmm or Code.Movntpd_m128_xmm;
                var (lo, hi) = ReadXmmOperand(ref d, d.Kind1, d.Reg1, aligned);
                WriteXmmOperand(ref d, d.Kind0, d.Reg0, lo, hi, aligned);
                return;
            }
            case Op.SseMovd:
            {
                // movd/movq between an XMM register and a GPR or memory: into XMM zero-extends to 128 bits.
                if (d.Kind0 == OperandKind.Xmm)
                {
                    ulong v = Source1(ref d, d.Size1);
                    x[d.Reg0 * 2] = v;
                    x[d.Reg0 * 2 + 1] = 0;
                }
                else
                {
                    ulong v = x[d.Reg1 * 2] & Alu.Mask(d.Size);
                    if (d.Kind0 == OperandKind.Memory) Write(Ea(ref d), d.Size, v);
                    else SetReg(d.Reg0, d.Size, v);
                }
                return;
            }
            case Op.SseMovq:
            {
                // movq xmm, xmm/m64 (zeroes bits 64..127) and movq xmm/m64, xmm.
                ulong v = d.Kind1 == OperandKind.Xmm ? x[d.Reg1 * 2] : Read(Ea(ref d), 8);
                if (d.Kind0 == OperandKind.Xmm)
                {
                    x[d.Reg0 * 2] = v;
                    x[d.Reg0 * 2 + 1] = 0;
                }
                else
                {
                    Write(Ea(ref d), 8, v);
                }
                return;
            }
            case Op.SseLogic:
            {
                // Legacy-SSE encodings: the memory source of these must be 16-byte aligned.
                var (lo, hi) = ReadXmmOperand(ref d, d.Kind1, d.Reg1, aligned: true);
                int r = d.Reg0 * 2;
                switch (d.Code)
                {
                    case Code.Pxor_xmm_xmmm128: case Code.Xorps_xmm_xmmm128: case Code.Xorpd_xmm_xmmm128:
                        x[r] ^= lo; x[r + 1] ^= hi; break;
                    case Code.Por_xmm_xmmm128: case Code.Orps_xmm_xmmm128: case Code.Orpd_xmm_xmmm128:
                        x[r] |= lo; x[r + 1] |= hi; break;
                    case Code.Pand_xmm_xmmm128: case Code.Andps_xmm_xmmm128: case Code.Andpd_xmm_xmmm128:
                        x[r] &= lo; x[r + 1] &= hi; break;
                    case Code.Pandn_xmm_xmmm128: case Code.Andnps_xmm_xmmm128: case Code.Andnpd_xmm_xmmm128:
                        x[r] = ~x[r] & lo; x[r + 1] = ~x[r + 1] & hi; break;
                    default: RaiseUnimplemented(); return; // VEX/EVEX forms
                }
                return;
            }
            case Op.Ldmxcsr:
            {
                uint v = (uint)Read(Ea(ref d), 4);
                if ((v & ~MxcsrMask) != 0) RaiseGp0();
                Registers.Mxcsr = v;
                return;
            }
            case Op.Stmxcsr:
                Write(Ea(ref d), 4, Registers.Mxcsr);
                return;
            case Op.SsePackedInt:
                ExecutePackedInteger(ref d);
                return;
            case Op.SseScalar:
                ExecuteScalarFloat(ref d);
                return;
            case Op.SsePackedFloat:
                ExecutePackedFloat(ref d);
                return;
            case Op.Fxsave:
                FxSave(Ea(ref d));
                return;
            case Op.Fxrstor:
                FxRestore(Ea(ref d));
                return;
            default:
                RaiseUnimplemented();
                return;
        }
    }

    /// <summary>SSE2 packed-integer add/sub/compare, pshufd, punpck* and pmovmskb.</summary>
    private void ExecutePackedInteger(ref DecodedInstruction d)
    {
        ulong[] x = Registers.Xmm;
        if (d.Code is Code.Pmovmskb_r32_xmm or Code.Pmovmskb_r64_xmm)
        {
            var m = Vector128.Create(x[d.Reg1 * 2], x[d.Reg1 * 2 + 1]).AsByte();
            SetReg(d.Reg0, d.Size, Vector128.ExtractMostSignificantBits(m));
            return;
        }
        if (d.Code is Code.Movmskps_r32_xmm or Code.Movmskps_r64_xmm or Code.Movmskpd_r32_xmm or Code.Movmskpd_r64_xmm)
        {
            var m = Vector128.Create(x[d.Reg1 * 2], x[d.Reg1 * 2 + 1]);
            uint bits = d.Code is Code.Movmskps_r32_xmm or Code.Movmskps_r64_xmm
                ? Vector128.ExtractMostSignificantBits(m.AsUInt32())
                : Vector128.ExtractMostSignificantBits(m);
            SetReg(d.Reg0, d.Size, bits);
            return;
        }
        int r = d.Reg0 * 2;
        var a = Vector128.Create(x[r], x[r + 1]);
        if (d.Kind1 == OperandKind.Immediate)
        {
            ShiftImmediate(ref d, r, a, (int)(d.Immediate & 0xFF));
            return;
        }
        var (lo, hi) = ReadXmmOperand(ref d, d.Kind1, d.Reg1, aligned: true);
        var b = Vector128.Create(lo, hi);
        Vector128<ulong> v;
        switch (d.Code)
        {
            // Shifts by an XMM/m128 count use its whole low quadword.
            case Code.Psllw_xmm_xmmm128: v = ShiftLeft(a.AsUInt16(), lo).AsUInt64(); break;
            case Code.Pslld_xmm_xmmm128: v = ShiftLeft(a.AsUInt32(), lo).AsUInt64(); break;
            case Code.Psllq_xmm_xmmm128: v = ShiftLeft(a, lo); break;
            case Code.Psrlw_xmm_xmmm128: v = ShiftRightLogical(a.AsUInt16(), lo).AsUInt64(); break;
            case Code.Psrld_xmm_xmmm128: v = ShiftRightLogical(a.AsUInt32(), lo).AsUInt64(); break;
            case Code.Psrlq_xmm_xmmm128: v = ShiftRightLogical(a, lo); break;
            case Code.Psraw_xmm_xmmm128: v = Vector128.ShiftRightArithmetic(a.AsInt16(), (int)Math.Min(lo, 15)).AsUInt64(); break;
            case Code.Psrad_xmm_xmmm128: v = Vector128.ShiftRightArithmetic(a.AsInt32(), (int)Math.Min(lo, 31)).AsUInt64(); break;
            case Code.Paddb_xmm_xmmm128: v = (a.AsByte() + b.AsByte()).AsUInt64(); break;
            case Code.Paddw_xmm_xmmm128: v = (a.AsUInt16() + b.AsUInt16()).AsUInt64(); break;
            case Code.Paddd_xmm_xmmm128: v = (a.AsUInt32() + b.AsUInt32()).AsUInt64(); break;
            case Code.Paddq_xmm_xmmm128: v = a + b; break;
            case Code.Psubb_xmm_xmmm128: v = (a.AsByte() - b.AsByte()).AsUInt64(); break;
            case Code.Psubw_xmm_xmmm128: v = (a.AsUInt16() - b.AsUInt16()).AsUInt64(); break;
            case Code.Psubd_xmm_xmmm128: v = (a.AsUInt32() - b.AsUInt32()).AsUInt64(); break;
            case Code.Psubq_xmm_xmmm128: v = a - b; break;
            case Code.Pcmpeqb_xmm_xmmm128: v = Vector128.Equals(a.AsByte(), b.AsByte()).AsUInt64(); break;
            case Code.Pcmpeqw_xmm_xmmm128: v = Vector128.Equals(a.AsUInt16(), b.AsUInt16()).AsUInt64(); break;
            case Code.Pcmpeqd_xmm_xmmm128: v = Vector128.Equals(a.AsUInt32(), b.AsUInt32()).AsUInt64(); break;
            case Code.Pcmpgtb_xmm_xmmm128: v = Vector128.GreaterThan(a.AsSByte(), b.AsSByte()).AsUInt64(); break;
            case Code.Pcmpgtw_xmm_xmmm128: v = Vector128.GreaterThan(a.AsInt16(), b.AsInt16()).AsUInt64(); break;
            case Code.Pcmpgtd_xmm_xmmm128: v = Vector128.GreaterThan(a.AsInt32(), b.AsInt32()).AsUInt64(); break;
            case Code.Pminub_xmm_xmmm128: v = Vector128.Min(a.AsByte(), b.AsByte()).AsUInt64(); break;
            case Code.Pmaxub_xmm_xmmm128: v = Vector128.Max(a.AsByte(), b.AsByte()).AsUInt64(); break;
            case Code.Unpcklps_xmm_xmmm128: v = Interleave(a.AsUInt32(), b.AsUInt32(), false).AsUInt64(); break;
            case Code.Unpckhps_xmm_xmmm128: v = Interleave(a.AsUInt32(), b.AsUInt32(), true).AsUInt64(); break;
            case Code.Unpcklpd_xmm_xmmm128: v = Vector128.Create(x[r], lo); break;
            case Code.Unpckhpd_xmm_xmmm128: v = Vector128.Create(x[r + 1], hi); break;
            case Code.Pshufd_xmm_xmmm128_imm8:
            {
                var s = b.AsUInt32();
                int imm = (int)d.Immediate;
                v = Vector128.Create(s.GetElement(imm & 3), s.GetElement((imm >> 2) & 3), s.GetElement((imm >> 4) & 3),
                    s.GetElement((imm >> 6) & 3)).AsUInt64();
                break;
            }
            case Code.Punpcklbw_xmm_xmmm128: v = Interleave(a.AsByte(), b.AsByte(), false).AsUInt64(); break;
            case Code.Punpckhbw_xmm_xmmm128: v = Interleave(a.AsByte(), b.AsByte(), true).AsUInt64(); break;
            case Code.Punpcklwd_xmm_xmmm128: v = Interleave(a.AsUInt16(), b.AsUInt16(), false).AsUInt64(); break;
            case Code.Punpckhwd_xmm_xmmm128: v = Interleave(a.AsUInt16(), b.AsUInt16(), true).AsUInt64(); break;
            case Code.Punpckldq_xmm_xmmm128: v = Interleave(a.AsUInt32(), b.AsUInt32(), false).AsUInt64(); break;
            case Code.Punpckhdq_xmm_xmmm128: v = Interleave(a.AsUInt32(), b.AsUInt32(), true).AsUInt64(); break;
            case Code.Punpcklqdq_xmm_xmmm128: v = Vector128.Create(x[r], lo); break;
            case Code.Punpckhqdq_xmm_xmmm128: v = Vector128.Create(x[r + 1], hi); break;
            default: RaiseUnimplemented(); return;
        }
        x[r] = v.GetElement(0);
        x[r + 1] = v.GetElement(1);
    }

    private void ShiftImmediate(ref DecodedInstruction d, int r, Vector128<ulong> a, int n)
    {
        Vector128<ulong> v;
        switch (d.Code)
        {
            case Code.Psllw_xmm_imm8: v = ShiftLeft(a.AsUInt16(), (ulong)n).AsUInt64(); break;
            case Code.Pslld_xmm_imm8: v = ShiftLeft(a.AsUInt32(), (ulong)n).AsUInt64(); break;
            case Code.Psllq_xmm_imm8: v = ShiftLeft(a, (ulong)n); break;
            case Code.Psrlw_xmm_imm8: v = ShiftRightLogical(a.AsUInt16(), (ulong)n).AsUInt64(); break;
            case Code.Psrld_xmm_imm8: v = ShiftRightLogical(a.AsUInt32(), (ulong)n).AsUInt64(); break;
            case Code.Psrlq_xmm_imm8: v = ShiftRightLogical(a, (ulong)n); break;
            case Code.Psraw_xmm_imm8: v = Vector128.ShiftRightArithmetic(a.AsInt16(), Math.Min(n, 15)).AsUInt64(); break;
            case Code.Psrad_xmm_imm8: v = Vector128.ShiftRightArithmetic(a.AsInt32(), Math.Min(n, 31)).AsUInt64(); break;
            case Code.Pslldq_xmm_imm8: v = ShiftBytes(a, n, left: true); break;
            case Code.Psrldq_xmm_imm8: v = ShiftBytes(a, n, left: false); break;
            default: RaiseUnimplemented(); return;
        }
        Registers.Xmm[r] = v.GetElement(0);
        Registers.Xmm[r + 1] = v.GetElement(1);
    }

    /// <summary>Logical lane shifts: a count at or above the lane width clears the lane (SDM vol. 2, PSLLW/PSRLW).</summary>
    private static Vector128<ushort> ShiftLeft(Vector128<ushort> a, ulong n) =>
        n >= 16 ? Vector128<ushort>.Zero : Vector128.ShiftLeft(a, (int)n);
    private static Vector128<uint> ShiftLeft(Vector128<uint> a, ulong n) =>
        n >= 32 ? Vector128<uint>.Zero : Vector128.ShiftLeft(a, (int)n);
    private static Vector128<ulong> ShiftLeft(Vector128<ulong> a, ulong n) =>
        n >= 64 ? Vector128<ulong>.Zero : Vector128.ShiftLeft(a, (int)n);
    private static Vector128<ushort> ShiftRightLogical(Vector128<ushort> a, ulong n) =>
        n >= 16 ? Vector128<ushort>.Zero : Vector128.ShiftRightLogical(a, (int)n);
    private static Vector128<uint> ShiftRightLogical(Vector128<uint> a, ulong n) =>
        n >= 32 ? Vector128<uint>.Zero : Vector128.ShiftRightLogical(a, (int)n);
    private static Vector128<ulong> ShiftRightLogical(Vector128<ulong> a, ulong n) =>
        n >= 64 ? Vector128<ulong>.Zero : Vector128.ShiftRightLogical(a, (int)n);

    /// <summary>pslldq/psrldq: whole-register byte shift; counts above 15 clear it.</summary>
    private static Vector128<ulong> ShiftBytes(Vector128<ulong> a, int n, bool left)
    {
        if (n > 15) return Vector128<ulong>.Zero;
        var bytes = a.AsByte();
        var r = Vector128<byte>.Zero;
        for (int i = 0; i < 16; i++)
        {
            int from = left ? i - n : i + n;
            if (from >= 0 && from < 16) r = r.WithElement(i, bytes.GetElement(from));
        }
        return r.AsUInt64();
    }

    /// <summary>Packed single/double arithmetic: the host's vector arithmetic with the default MXCSR control, lane by
    /// lane through <see cref="SseRounding"/> otherwise.</summary>
    private void ExecutePackedFloat(ref DecodedInstruction d)
    {
        if ((Registers.Mxcsr & SseRounding.Controls) != 0)
        {
            ExecutePackedFloatControlled(ref d);
            return;
        }
        var (lo, hi) = ReadXmmOperand(ref d, d.Kind1, d.Reg1, aligned: true);
        int r = d.Reg0 * 2;
        ulong[] x = Registers.Xmm;
        var a = Vector128.Create(x[r], x[r + 1]);
        var b = Vector128.Create(lo, hi);
        var af = a.AsSingle(); var bf = b.AsSingle();
        var ad = a.AsDouble(); var bd = b.AsDouble();
        Vector128<ulong> v;
        switch (d.Code)
        {
            case Code.Addps_xmm_xmmm128: v = (af + bf).AsUInt64(); break;
            case Code.Subps_xmm_xmmm128: v = (af - bf).AsUInt64(); break;
            case Code.Mulps_xmm_xmmm128: v = (af * bf).AsUInt64(); break;
            case Code.Divps_xmm_xmmm128: v = (af / bf).AsUInt64(); break;
            case Code.Sqrtps_xmm_xmmm128: v = Vector128.Sqrt(bf).AsUInt64(); break;
            case Code.Minps_xmm_xmmm128: v = Vector128.ConditionalSelect(Vector128.LessThan(af, bf), af, bf).AsUInt64(); break;
            case Code.Maxps_xmm_xmmm128: v = Vector128.ConditionalSelect(Vector128.GreaterThan(af, bf), af, bf).AsUInt64(); break;
            case Code.Addpd_xmm_xmmm128: v = (ad + bd).AsUInt64(); break;
            case Code.Subpd_xmm_xmmm128: v = (ad - bd).AsUInt64(); break;
            case Code.Mulpd_xmm_xmmm128: v = (ad * bd).AsUInt64(); break;
            case Code.Divpd_xmm_xmmm128: v = (ad / bd).AsUInt64(); break;
            case Code.Sqrtpd_xmm_xmmm128: v = Vector128.Sqrt(bd).AsUInt64(); break;
            case Code.Minpd_xmm_xmmm128: v = Vector128.ConditionalSelect(Vector128.LessThan(ad, bd), ad, bd).AsUInt64(); break;
            case Code.Maxpd_xmm_xmmm128: v = Vector128.ConditionalSelect(Vector128.GreaterThan(ad, bd), ad, bd).AsUInt64(); break;
            default: RaiseUnimplemented(); return;
        }
        SseFlags(PackedFlags(d.Code, a, b, v));
        x[r] = v.GetElement(0);
        x[r + 1] = v.GetElement(1);
    }

    private static Vector128<T> Interleave<T>(Vector128<T> a, Vector128<T> b, bool high)
    {
        int half = Vector128<T>.Count / 2, start = high ? half : 0;
        var r = Vector128<T>.Zero;
        for (int i = 0; i < half; i++)
        {
            r = r.WithElement(2 * i, a.GetElement(start + i));
            r = r.WithElement(2 * i + 1, b.GetElement(start + i));
        }
        return r;
    }

    /// <summary>
    /// Scalar single/double arithmetic, moves, compares and conversions, computed with the host's IEEE-754
    /// binary32/binary64 arithmetic in round-to-nearest under the default MXCSR control, through
    /// <see cref="SseRounding"/> under any other (rounding control, FZ, DAZ); flags from <see cref="SseExceptions"/>.
    /// </summary>
    private void ExecuteScalarFloat(ref DecodedInstruction d)
    {
        ulong[] x = Registers.Xmm;
        int r = d.Reg0 * 2;
        switch (d.Code)
        {
            case Code.Movsd_xmm_xmmm64:
                if (d.Kind1 == OperandKind.Xmm) x[r] = x[d.Reg1 * 2];
                else { x[r] = Read(Ea(ref d), 8); x[r + 1] = 0; }
                return;
            case Code.Movsd_xmmm64_xmm:
                if (d.Kind0 == OperandKind.Xmm) x[r] = x[d.Reg1 * 2];
                else Write(Ea(ref d), 8, x[d.Reg1 * 2]);
                return;
            case Code.Movss_xmm_xmmm32:
                if (d.Kind1 == OperandKind.Xmm) x[r] = (x[r] & ~0xFFFF_FFFFUL) | (uint)x[d.Reg1 * 2];
                else { x[r] = (uint)Read(Ea(ref d), 4); x[r + 1] = 0; }
                return;
            case Code.Movss_xmmm32_xmm:
                if (d.Kind0 == OperandKind.Xmm) x[r] = (x[r] & ~0xFFFF_FFFFUL) | (uint)x[d.Reg1 * 2];
                else Write(Ea(ref d), 4, (uint)x[d.Reg1 * 2]);
                return;

            case Code.Addsd_xmm_xmmm64: ArithSd(r, SseExceptions.Arith.Add, Sd(r), SrcSd(ref d)); return;
            case Code.Subsd_xmm_xmmm64: ArithSd(r, SseExceptions.Arith.Sub, Sd(r), SrcSd(ref d)); return;
            case Code.Mulsd_xmm_xmmm64: ArithSd(r, SseExceptions.Arith.Mul, Sd(r), SrcSd(ref d)); return;
            case Code.Divsd_xmm_xmmm64: ArithSd(r, SseExceptions.Arith.Div, Sd(r), SrcSd(ref d)); return;
            case Code.Sqrtsd_xmm_xmmm64: ArithSd(r, SseExceptions.Arith.Sqrt, 0, SrcSd(ref d)); return;
            // min/max return the source when either is NaN or both are zero (SDM vol. 2, MINSD/MAXSD).
            case Code.Minsd_xmm_xmmm64: { double a = Daz(Sd(r)), b = Daz(SrcSd(ref d)); SseFlags(SseExceptions.Compare(a, b, true)); SetSd(r, a < b ? a : b); return; }
            case Code.Maxsd_xmm_xmmm64: { double a = Daz(Sd(r)), b = Daz(SrcSd(ref d)); SseFlags(SseExceptions.Compare(a, b, true)); SetSd(r, a > b ? a : b); return; }
            case Code.Addss_xmm_xmmm32: ArithSs(r, SseExceptions.Arith.Add, Ss(r), SrcSs(ref d)); return;
            case Code.Subss_xmm_xmmm32: ArithSs(r, SseExceptions.Arith.Sub, Ss(r), SrcSs(ref d)); return;
            case Code.Mulss_xmm_xmmm32: ArithSs(r, SseExceptions.Arith.Mul, Ss(r), SrcSs(ref d)); return;
            case Code.Divss_xmm_xmmm32: ArithSs(r, SseExceptions.Arith.Div, Ss(r), SrcSs(ref d)); return;
            case Code.Sqrtss_xmm_xmmm32: ArithSs(r, SseExceptions.Arith.Sqrt, 0, SrcSs(ref d)); return;
            case Code.Minss_xmm_xmmm32: { float a = Daz(Ss(r)), b = Daz(SrcSs(ref d)); SseFlags(SseExceptions.Compare(a, b, true)); SetSs(r, a < b ? a : b); return; }
            case Code.Maxss_xmm_xmmm32: { float a = Daz(Ss(r)), b = Daz(SrcSs(ref d)); SseFlags(SseExceptions.Compare(a, b, true)); SetSs(r, a > b ? a : b); return; }

            case Code.Comisd_xmm_xmmm64: case Code.Ucomisd_xmm_xmmm64:
            {
                double a = Daz(Sd(r)), b = Daz(SrcSd(ref d));
                SseFlags(SseExceptions.Compare(a, b, d.Code == Code.Comisd_xmm_xmmm64));
                CompareFlags(a, b);
                return;
            }
            case Code.Comiss_xmm_xmmm32: case Code.Ucomiss_xmm_xmmm32:
            {
                float a = Daz(Ss(r)), b = Daz(SrcSs(ref d));
                SseFlags(SseExceptions.Compare(a, b, d.Code == Code.Comiss_xmm_xmmm32));
                CompareFlags(a, b);
                return;
            }

            case Code.Cvtsi2sd_xmm_rm32: SetSd(r, (int)Source1(ref d, 4)); return;
            case Code.Cvtsi2sd_xmm_rm64:
            {
                long v = (long)Source1(ref d, 8);
                uint mx = Registers.Mxcsr;
                double f;
                if ((mx & SseRounding.Controls) == 0) { f = v; SseFlags(Int64ToDoubleFlags(v, f)); }
                else f = Int64ToDoubleControlled(v);
                SetSd(r, f);
                return;
            }
            case Code.Cvtsi2ss_xmm_rm32:
            {
                int v = (int)Source1(ref d, 4);
                uint mx = Registers.Mxcsr;
                float f;
                if ((mx & SseRounding.Controls) == 0) { f = v; SseFlags((double)f != v ? SseExceptions.PE : 0); }
                else f = Int64ToSingleControlled(v);
                SetSs(r, f);
                return;
            }
            case Code.Cvtsi2ss_xmm_rm64:
            {
                long v = (long)Source1(ref d, 8);
                uint mx = Registers.Mxcsr;
                float f;
                if ((mx & SseRounding.Controls) == 0) { f = v; SseFlags(Int64ToSingleFlags(v, f)); }
                else f = Int64ToSingleControlled(v);
                SetSs(r, f);
                return;
            }
            case Code.Cvtsd2ss_xmm_xmmm64:
            {
                double v = SrcSd(ref d);
                uint mx = Registers.Mxcsr;
                float f;
                if ((mx & SseRounding.Controls) == 0) { f = (float)v; SseFlags(SseExceptions.DoubleToSingle(v, f, mx)); }
                else f = DoubleToSingleControlled(v);
                SetSs(r, f);
                return;
            }
            case Code.Cvtss2sd_xmm_xmmm32:
            {
                float v = Daz(SrcSs(ref d));
                SseFlags(SseExceptions.SingleToDouble(v));
                SetSd(r, v);
                return;
            }
            case Code.Cvttsd2si_r32_xmmm64: { double v = Daz(SrcSd(ref d)); SetReg(d.Reg0, 4, ConvertToInt(v, Math.Truncate(v), 4)); return; }
            case Code.Cvttsd2si_r64_xmmm64: { double v = Daz(SrcSd(ref d)); SetReg(d.Reg0, 8, ConvertToInt(v, Math.Truncate(v), 8)); return; }
            case Code.Cvttss2si_r32_xmmm32: { double v = Daz(SrcSs(ref d)); SetReg(d.Reg0, 4, ConvertToInt(v, Math.Truncate(v), 4)); return; }
            case Code.Cvttss2si_r64_xmmm32: { double v = Daz(SrcSs(ref d)); SetReg(d.Reg0, 8, ConvertToInt(v, Math.Truncate(v), 8)); return; }
            // cvt*2si round as MXCSR.RC says, then convert like the truncating forms.
            case Code.Cvtsd2si_r32_xmmm64: { double v = Daz(SrcSd(ref d)); SetReg(d.Reg0, 4, ConvertToInt(v, RoundMxcsr(v), 4)); return; }
            case Code.Cvtsd2si_r64_xmmm64: { double v = Daz(SrcSd(ref d)); SetReg(d.Reg0, 8, ConvertToInt(v, RoundMxcsr(v), 8)); return; }
            case Code.Cvtss2si_r32_xmmm32: { double v = Daz(SrcSs(ref d)); SetReg(d.Reg0, 4, ConvertToInt(v, RoundMxcsr(v), 4)); return; }
            case Code.Cvtss2si_r64_xmmm32: { double v = Daz(SrcSs(ref d)); SetReg(d.Reg0, 8, ConvertToInt(v, RoundMxcsr(v), 8)); return; }
            default:
                RaiseUnimplemented();
                return;
        }
    }

    private double Sd(int r) => BitConverter.UInt64BitsToDouble(Registers.Xmm[r]);
    private float Ss(int r) => BitConverter.UInt32BitsToSingle((uint)Registers.Xmm[r]);
    private void SetSd(int r, double v) => Registers.Xmm[r] = BitConverter.DoubleToUInt64Bits(v);
    private void SetSs(int r, float v) =>
        Registers.Xmm[r] = (Registers.Xmm[r] & ~0xFFFF_FFFFUL) | BitConverter.SingleToUInt32Bits(v);

    private double SrcSd(ref DecodedInstruction d) => BitConverter.UInt64BitsToDouble(
        d.Kind1 == OperandKind.Xmm ? Registers.Xmm[d.Reg1 * 2] : Read(Ea(ref d), 8));

    private float SrcSs(ref DecodedInstruction d) => BitConverter.UInt32BitsToSingle(
        d.Kind1 == OperandKind.Xmm ? (uint)Registers.Xmm[d.Reg1 * 2] : (uint)Read(Ea(ref d), 4));

    /// <summary>(u)comis*: ZF/PF/CF = 111 unordered, 000 greater, 001 less, 100 equal; OF/SF/AF cleared.</summary>
    private void CompareFlags(double a, double b)
    {
        ulong f = double.IsNaN(a) || double.IsNaN(b) ? Flags.ZF | Flags.PF | Flags.CF
            : a > b ? 0 : a < b ? Flags.CF : Flags.ZF;
        _flags = (_flags & ~Flags.Status) | f;
    }

    /// <summary>Round to an integral value with MXCSR.RC (bits 13..14: nearest-even, down, up, toward zero).</summary>
    private double RoundMxcsr(double v) => ((Registers.Mxcsr >> 13) & 3) switch
    {
        0 => Math.Round(v, MidpointRounding.ToEven),
        1 => Math.Floor(v),
        2 => Math.Ceiling(v),
        _ => Math.Truncate(v),
    };

    /// <summary>cvtt*2si: truncation; NaN and out-of-range give the integer indefinite value.</summary>
    private static ulong TruncateTo32(double v) =>
        v > -2147483649.0 && v < 2147483648.0 ? (uint)(int)v : 0x8000_0000UL;

    private static ulong TruncateTo64(double v) =>
        v >= -9223372036854775808.0 && v < 9223372036854775808.0 ? (ulong)(long)v : 0x8000_0000_0000_0000UL;

    private const int FxMxcsr = 24, FxMxcsrMask = 28, FxSt = 32, FxXmm = 160;

    /// <summary>
    /// fxsave/fxsave64 (SDM vol. 1, 10.5.1): the 512-byte area, 16-byte aligned or #GP(0): FCW, FSW, the abridged
    /// tag word, MXCSR, ST0..ST7 (in stack order, 10 bytes each, the 6 bytes after each zero) and XMM0..15.
    /// The last-instruction pointers (FOP, FIP, FDP) are not tracked and read as zero. Bytes 464..511 are left
    /// untouched, as on hardware.
    /// </summary>
    private void FxSave(ulong ea)
    {
        CheckAlignment(ea, 4); // before the #GP, as the host does (EmulatedVcpu.AlignmentCheck.cs)
        if ((ea & 15) != 0) RaiseGp0();
        ProbeWritable(ea, 464);
        var regs = Registers;
        Write(ea, 8, regs.Fcw | ((ulong)regs.Fsw << 16) | ((ulong)regs.FtwAbridged << 32));
        for (int off = 8; off < FxMxcsr; off += 8) Write(ea + (ulong)off, 8, 0);
        Write(ea + FxMxcsr, 4, regs.Mxcsr);
        Write(ea + FxMxcsrMask, 4, MxcsrMask);
        int top = (regs.Fsw >> 11) & 7;
        for (int i = 0; i < 8; i++)
        {
            int p = (top + i) & 7;
            ulong slot = ea + FxSt + (ulong)i * 16;
            Write(slot, 8, regs.FpMantissa[p]);
            Write(slot + 8, 8, regs.FpSignExponent[p]);
        }
        ulong[] x = regs.Xmm;
        for (int q = 0; q < 32; q++) Write(ea + FxXmm + (ulong)q * 8, 8, x[q]);
        for (int off = FxXmm + 256; off < 464; off += 8) Write(ea + (ulong)off, 8, 0);
    }

    /// <summary>fxrstor/fxrstor64: loads the x87 state, MXCSR (reserved bits set: #GP(0), nothing loaded) and
    /// XMM0..15.</summary>
    private void FxRestore(ulong ea)
    {
        CheckAlignment(ea, 4);
        if ((ea & 15) != 0) RaiseGp0();
        // The processor reads the image it loads (bytes 0-415 in 64-bit mode: FIP/FDP/FOP and the ST padding too,
        // which are not kept here), so a data breakpoint anywhere in it is hit.
        if (_dataBreakpoints != 0) NoteDataAccess(ea, FxXmm + 256, write: false);
        ulong head = Read(ea, 8);
        uint mxcsr = (uint)Read(ea + FxMxcsr, 4);
        if ((mxcsr & ~MxcsrMask) != 0) RaiseGp0();
        Span<ulong> st = stackalloc ulong[16];
        for (int i = 0; i < 8; i++)
        {
            st[2 * i] = Read(ea + FxSt + (ulong)i * 16, 8);
            st[2 * i + 1] = Read(ea + FxSt + (ulong)i * 16 + 8, 2);
        }
        Span<ulong> xmm = stackalloc ulong[32];
        for (int q = 0; q < 32; q++) xmm[q] = Read(ea + FxXmm + (ulong)q * 8, 8);
        var regs = Registers;
        regs.Fcw = (ushort)((head & 0x1F3F) | 0x40);
        regs.Fsw = (ushort)(head >> 16);
        regs.FtwAbridged = (byte)(head >> 32);
        int top = (regs.Fsw >> 11) & 7;
        for (int i = 0; i < 8; i++)
        {
            int p = (top + i) & 7;
            regs.FpMantissa[p] = st[2 * i];
            regs.FpSignExponent[p] = (ushort)st[2 * i + 1];
        }
        regs.Mxcsr = mxcsr;
        xmm.CopyTo(regs.Xmm);
    }

    /// <summary>The read half of a read-modify-write: translated for writing first, so a not-present page
    /// faults with W = 1 as on hardware.</summary>
    private ulong ReadForWrite(ulong ea, int size)
    {
        ProbeWritable(ea, size);
        return Read(ea, size);
    }

    /// <summary>Translates every page of [ea, ea + length) for writing, so a multi-part store faults before
    /// its first part lands.</summary>
    private void ProbeWritable(ulong ea, int length)
    {
        CheckAlignment(ea, OperandAlignment(length)); // #AC before any #PF, as on the host
        WritePointer(ea);
        ulong last = ea + (ulong)length - 1;
        for (ulong page = (ea & ~0xFFFUL) + 4096; page <= last; page += 4096) WritePointer(page);
    }

    private (ulong Lo, ulong Hi) ReadXmmOperand(ref DecodedInstruction d, OperandKind kind, byte reg, bool aligned)
    {
        if (kind == OperandKind.Xmm) return (Registers.Xmm[reg * 2], Registers.Xmm[reg * 2 + 1]);
        if (kind != OperandKind.Memory) RaiseUnimplemented();
        ulong ea = Ea(ref d);
        if (aligned && (ea & 15) != 0) RaiseGp0();
        CheckAlignment(ea, 16); // the unaligned forms too (EmulatedVcpu.AlignmentCheck.cs)
        ulong lo = Read(ea, 8);
        ulong hi = Read(ea + 8, 8);
        return (lo, hi);
    }

    private void WriteXmmOperand(ref DecodedInstruction d, OperandKind kind, byte reg, ulong lo, ulong hi, bool aligned)
    {
        if (kind == OperandKind.Xmm)
        {
            Registers.Xmm[reg * 2] = lo;
            Registers.Xmm[reg * 2 + 1] = hi;
            return;
        }
        if (kind != OperandKind.Memory) RaiseUnimplemented();
        ulong ea = Ea(ref d);
        if (aligned && (ea & 15) != 0) RaiseGp0();
        // All or nothing: both ends must be writable before the first half is stored.
        // A fault on the second page reports its first byte in CR2, like the integer split stores.
        ProbeWritable(ea, 16);
        Write(ea, 8, lo);
        Write(ea + 8, 8, hi);
    }
}
