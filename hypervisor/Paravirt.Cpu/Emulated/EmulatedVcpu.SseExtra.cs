using Iced.Intel;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// The rest of the SSE/SSE2 baseline gcc emits: compares (cmpps/cmppd/cmpss/cmpsd), shuffles, half-register moves,
/// packed conversions, saturating and multiplying integer arithmetic, packs, pextrw/pinsrw. Lane loops over
/// two quadwords on the stack: no allocation. Reads (and faults) before any register is written.
/// </summary>
public sealed unsafe partial class EmulatedVcpu
{
    private void ExecuteSseExtra(ref DecodedInstruction d)
    {
        ulong[] x = Registers.Xmm;
        int r = d.Reg0 * 2;
        switch (d.Code)
        {
            // ---- half-register moves (m64 operands: no alignment) ----
            case Code.Movhps_xmm_m64: case Code.Movhpd_xmm_m64: x[r + 1] = Read(Ea(ref d), 8); return;
            case Code.Movlps_xmm_m64: case Code.Movlpd_xmm_m64: x[r] = Read(Ea(ref d), 8); return;
            case Code.Movhps_m64_xmm: case Code.Movhpd_m64_xmm: Write(Ea(ref d), 8, x[d.Reg1 * 2 + 1]); return;
            case Code.Movlps_m64_xmm: case Code.Movlpd_m64_xmm: Write(Ea(ref d), 8, x[d.Reg1 * 2]); return;
            case Code.Movhlps_xmm_xmm: x[r] = x[d.Reg1 * 2 + 1]; return;
            case Code.Movlhps_xmm_xmm: x[r + 1] = x[d.Reg1 * 2]; return;

            // ---- pextrw / pinsrw ----
            case Code.Pextrw_r32_xmm_imm8: case Code.Pextrw_r64_xmm_imm8:
            {
                int w = (int)(d.Immediate & 7);
                SetReg(d.Reg0, d.Size, (x[d.Reg1 * 2 + (w >> 2)] >> ((w & 3) * 16)) & 0xFFFF);
                return;
            }
            case Code.Pinsrw_xmm_r32m16_imm8: case Code.Pinsrw_xmm_r64m16_imm8:
            {
                ulong v = d.Kind1 == OperandKind.Memory ? Read(Ea(ref d), 2) : GetReg(d.Reg1, 2);
                int w = (int)(d.Immediate & 7), q = r + (w >> 2), shift = (w & 3) * 16;
                x[q] = (x[q] & ~(0xFFFFUL << shift)) | (v << shift);
                return;
            }

            // ---- scalar compares: low element only, the rest of the destination kept ----
            case Code.Cmpss_xmm_xmmm32_imm8:
            {
                float fa = Daz(Ss(r)), fb = Daz(SrcSs(ref d));
                SseFlags(SseExceptions.Compare(fa, fb, SignallingPredicate((int)d.Immediate)));
                bool t = ComparePredicate(fa, fb, (int)d.Immediate);
                x[r] = (x[r] & ~0xFFFF_FFFFUL) | (t ? 0xFFFF_FFFFUL : 0);
                return;
            }
            case Code.Cmpsd_xmm_xmmm64_imm8:
            {
                double da = Daz(Sd(r)), db = Daz(SrcSd(ref d));
                SseFlags(SseExceptions.Compare(da, db, SignallingPredicate((int)d.Immediate)));
                x[r] = ComparePredicate(da, db, (int)d.Immediate) ? ulong.MaxValue : 0;
                return;
            }

            // ---- sources of 64 bits (low half of an xmm or m64, no alignment) ----
            case Code.Cvtdq2pd_xmm_xmmm64:
            {
                ulong s = Source64(ref d);
                x[r] = BitConverter.DoubleToUInt64Bits((int)(uint)s);
                x[r + 1] = BitConverter.DoubleToUInt64Bits((int)(uint)(s >> 32));
                return;
            }
            case Code.Cvtps2pd_xmm_xmmm64:
            {
                ulong s = Source64(ref d);
                float lo = Daz(BitConverter.UInt32BitsToSingle((uint)s)), hi = Daz(BitConverter.UInt32BitsToSingle((uint)(s >> 32)));
                SseFlags(SseExceptions.SingleToDouble(lo) | SseExceptions.SingleToDouble(hi));
                x[r] = BitConverter.DoubleToUInt64Bits(lo);
                x[r + 1] = BitConverter.DoubleToUInt64Bits(hi);
                return;
            }
        }

        // ---- the rest: xmm, xmm/m128 (legacy encodings: an m128 must be 16-byte aligned) ----
        var (blo, bhi) = ReadXmmOperand(ref d, d.Kind1, d.Reg1, aligned: true);
        ulong* a = stackalloc ulong[2];
        ulong* b = stackalloc ulong[2];
        ulong* o = stackalloc ulong[2];
        a[0] = x[r]; a[1] = x[r + 1];
        b[0] = blo; b[1] = bhi;
        int imm = (int)(d.Immediate & 0xFF);
        switch (d.Code)
        {
            case Code.Cmpps_xmm_xmmm128_imm8:
            {
                float* fa = (float*)a, fb = (float*)b; uint* ro = (uint*)o;
                uint f = 0;
                for (int i = 0; i < 4; i++)
                {
                    float p = Daz(fa[i]), q = Daz(fb[i]);
                    f |= SseExceptions.Compare(p, q, SignallingPredicate(imm));
                    ro[i] = ComparePredicate(p, q, imm) ? uint.MaxValue : 0;
                }
                SseFlags(f);
                break;
            }
            case Code.Cmppd_xmm_xmmm128_imm8:
            {
                double* fa = (double*)a, fb = (double*)b;
                uint f = 0;
                for (int i = 0; i < 2; i++)
                {
                    double p = Daz(fa[i]), q = Daz(fb[i]);
                    f |= SseExceptions.Compare(p, q, SignallingPredicate(imm));
                    o[i] = ComparePredicate(p, q, imm) ? ulong.MaxValue : 0;
                }
                SseFlags(f);
                break;
            }
            case Code.Shufps_xmm_xmmm128_imm8:
            {
                uint* ua = (uint*)a, ub = (uint*)b, ro = (uint*)o;
                ro[0] = ua[imm & 3]; ro[1] = ua[(imm >> 2) & 3]; ro[2] = ub[(imm >> 4) & 3]; ro[3] = ub[(imm >> 6) & 3];
                break;
            }
            case Code.Shufpd_xmm_xmmm128_imm8:
                o[0] = a[imm & 1]; o[1] = b[(imm >> 1) & 1];
                break;
            case Code.Pshuflw_xmm_xmmm128_imm8:
            {
                ushort* s = (ushort*)b, ro = (ushort*)o;
                for (int i = 0; i < 4; i++) ro[i] = s[(imm >> (2 * i)) & 3];
                o[1] = b[1];
                break;
            }
            case Code.Pshufhw_xmm_xmmm128_imm8:
            {
                ushort* s = (ushort*)b, ro = (ushort*)o;
                o[0] = b[0];
                for (int i = 0; i < 4; i++) ro[4 + i] = s[4 + ((imm >> (2 * i)) & 3)];
                break;
            }

            // ---- packed conversions ----
            case Code.Cvtdq2ps_xmm_xmmm128:
            {
                int* s = (int*)b; float* ro = (float*)o;
                uint f = 0, mx = Registers.Mxcsr;
                if ((mx & SseRounding.Controls) == 0)
                {
                    for (int i = 0; i < 4; i++) { ro[i] = s[i]; if (ro[i] != (double)s[i]) f = SseExceptions.PE; }
                }
                else
                {
                    f = Cvtdq2psControlled(s, ro);
                }
                SseFlags(f);
                break;
            }
            case Code.Cvttps2dq_xmm_xmmm128: case Code.Cvtps2dq_xmm_xmmm128:
            {
                float* s = (float*)b; uint* ro = (uint*)o;
                bool truncate = d.Code == Code.Cvttps2dq_xmm_xmmm128;
                uint f = 0;
                for (int i = 0; i < 4; i++)
                {
                    double v = Daz(s[i]);
                    ro[i] = (uint)ConvertToInt(v, truncate ? Math.Truncate(v) : RoundMxcsr(v), 4, ref f);
                }
                SseFlags(f);
                break;
            }
            case Code.Cvttpd2dq_xmm_xmmm128: case Code.Cvtpd2dq_xmm_xmmm128:
            {
                double* s = (double*)b; uint* ro = (uint*)o;
                bool truncate = d.Code == Code.Cvttpd2dq_xmm_xmmm128;
                uint f = 0;
                for (int i = 0; i < 2; i++)
                {
                    double v = Daz(s[i]);
                    ro[i] = (uint)ConvertToInt(v, truncate ? Math.Truncate(v) : RoundMxcsr(v), 4, ref f);
                }
                SseFlags(f);
                o[1] = 0;
                break;
            }
            case Code.Cvtpd2ps_xmm_xmmm128:
            {
                double* s = (double*)b; float* ro = (float*)o;
                uint mx = Registers.Mxcsr;
                if ((mx & SseRounding.Controls) == 0)
                {
                    ro[0] = (float)s[0]; ro[1] = (float)s[1];
                    SseFlags(SseExceptions.DoubleToSingle(s[0], ro[0], mx) | SseExceptions.DoubleToSingle(s[1], ro[1], mx));
                }
                else
                {
                    SseFlags(Cvtpd2psControlled(s, ro));
                }
                o[1] = 0;
                break;
            }

            // ---- packs (signed/unsigned saturation) ----
            case Code.Packsswb_xmm_xmmm128:
            {
                short* sa = (short*)a, sb = (short*)b; sbyte* ro = (sbyte*)o;
                for (int i = 0; i < 8; i++) { ro[i] = (sbyte)Math.Clamp((int)sa[i], -128, 127); ro[8 + i] = (sbyte)Math.Clamp((int)sb[i], -128, 127); }
                break;
            }
            case Code.Packuswb_xmm_xmmm128:
            {
                short* sa = (short*)a, sb = (short*)b; byte* ro = (byte*)o;
                for (int i = 0; i < 8; i++) { ro[i] = (byte)Math.Clamp((int)sa[i], 0, 255); ro[8 + i] = (byte)Math.Clamp((int)sb[i], 0, 255); }
                break;
            }
            case Code.Packssdw_xmm_xmmm128:
            {
                int* sa = (int*)a, sb = (int*)b; short* ro = (short*)o;
                for (int i = 0; i < 4; i++) { ro[i] = (short)Math.Clamp(sa[i], short.MinValue, short.MaxValue); ro[4 + i] = (short)Math.Clamp(sb[i], short.MinValue, short.MaxValue); }
                break;
            }

            // ---- saturating add/sub ----
            case Code.Paddsb_xmm_xmmm128: case Code.Psubsb_xmm_xmmm128:
            {
                sbyte* sa = (sbyte*)a, sb = (sbyte*)b, ro = (sbyte*)o;
                bool sub = d.Code == Code.Psubsb_xmm_xmmm128;
                for (int i = 0; i < 16; i++) ro[i] = (sbyte)Math.Clamp(sub ? sa[i] - sb[i] : sa[i] + sb[i], -128, 127);
                break;
            }
            case Code.Paddsw_xmm_xmmm128: case Code.Psubsw_xmm_xmmm128:
            {
                short* sa = (short*)a, sb = (short*)b, ro = (short*)o;
                bool sub = d.Code == Code.Psubsw_xmm_xmmm128;
                for (int i = 0; i < 8; i++) ro[i] = (short)Math.Clamp(sub ? sa[i] - sb[i] : sa[i] + sb[i], short.MinValue, short.MaxValue);
                break;
            }
            case Code.Paddusb_xmm_xmmm128: case Code.Psubusb_xmm_xmmm128:
            {
                byte* sa = (byte*)a, sb = (byte*)b, ro = (byte*)o;
                bool sub = d.Code == Code.Psubusb_xmm_xmmm128;
                for (int i = 0; i < 16; i++) ro[i] = (byte)Math.Clamp(sub ? sa[i] - sb[i] : sa[i] + sb[i], 0, 255);
                break;
            }
            case Code.Paddusw_xmm_xmmm128: case Code.Psubusw_xmm_xmmm128:
            {
                ushort* sa = (ushort*)a, sb = (ushort*)b, ro = (ushort*)o;
                bool sub = d.Code == Code.Psubusw_xmm_xmmm128;
                for (int i = 0; i < 8; i++) ro[i] = (ushort)Math.Clamp(sub ? sa[i] - sb[i] : sa[i] + sb[i], 0, 65535);
                break;
            }

            // ---- multiplies ----
            case Code.Pmullw_xmm_xmmm128: case Code.Pmulhw_xmm_xmmm128:
            {
                short* sa = (short*)a, sb = (short*)b, ro = (short*)o;
                bool high = d.Code == Code.Pmulhw_xmm_xmmm128;
                for (int i = 0; i < 8; i++) { int p = sa[i] * sb[i]; ro[i] = (short)(high ? p >> 16 : p); }
                break;
            }
            case Code.Pmulhuw_xmm_xmmm128:
            {
                ushort* sa = (ushort*)a, sb = (ushort*)b, ro = (ushort*)o;
                for (int i = 0; i < 8; i++) ro[i] = (ushort)((uint)(sa[i] * sb[i]) >> 16);
                break;
            }
            case Code.Pmuludq_xmm_xmmm128:
                o[0] = (ulong)(uint)a[0] * (uint)b[0];
                o[1] = (ulong)(uint)a[1] * (uint)b[1];
                break;
            case Code.Pmaddwd_xmm_xmmm128:
            {
                short* sa = (short*)a, sb = (short*)b; int* ro = (int*)o;
                for (int i = 0; i < 4; i++)
                    ro[i] = (int)((uint)(sa[2 * i] * sb[2 * i]) + (uint)(sa[2 * i + 1] * sb[2 * i + 1]));
                break;
            }

            // ---- averages, signed word min/max, sum of absolute differences ----
            case Code.Pavgb_xmm_xmmm128:
            {
                byte* sa = (byte*)a, sb = (byte*)b, ro = (byte*)o;
                for (int i = 0; i < 16; i++) ro[i] = (byte)((sa[i] + sb[i] + 1) >> 1);
                break;
            }
            case Code.Pavgw_xmm_xmmm128:
            {
                ushort* sa = (ushort*)a, sb = (ushort*)b, ro = (ushort*)o;
                for (int i = 0; i < 8; i++) ro[i] = (ushort)((sa[i] + sb[i] + 1) >> 1);
                break;
            }
            case Code.Pminsw_xmm_xmmm128: case Code.Pmaxsw_xmm_xmmm128:
            {
                short* sa = (short*)a, sb = (short*)b, ro = (short*)o;
                bool max = d.Code == Code.Pmaxsw_xmm_xmmm128;
                for (int i = 0; i < 8; i++) ro[i] = max ? Math.Max(sa[i], sb[i]) : Math.Min(sa[i], sb[i]);
                break;
            }
            case Code.Psadbw_xmm_xmmm128:
            {
                byte* sa = (byte*)a, sb = (byte*)b;
                for (int h = 0; h < 2; h++)
                {
                    uint sum = 0;
                    for (int i = 0; i < 8; i++) sum += (uint)Math.Abs(sa[8 * h + i] - sb[8 * h + i]);
                    o[h] = sum;
                }
                break;
            }
            default:
                RaiseUnimplemented();
                return;
        }
        x[r] = o[0];
        x[r + 1] = o[1];
    }

    /// <summary>The low quadword of an xmm source, or an m64 (no alignment requirement).</summary>
    private ulong Source64(ref DecodedInstruction d) =>
        d.Kind1 == OperandKind.Xmm ? Registers.Xmm[d.Reg1 * 2] : Read(Ea(ref d), 8);

    /// <summary>cmpps/cmpss predicates 0..7 (SDM vol. 2, CMPPS table 3-1): eq, lt, le, unord, neq, nlt, nle, ord.
    /// The "not" predicates are true on unordered operands.</summary>
    private static bool ComparePredicate(double a, double b, int predicate)
    {
        bool unordered = double.IsNaN(a) || double.IsNaN(b);
        return (predicate & 7) switch
        {
            0 => a == b,
            1 => a < b,
            2 => a <= b,
            3 => unordered,
            4 => !(a == b),
            5 => !(a < b),
            6 => !(a <= b),
            _ => !unordered,
        };
    }
}
