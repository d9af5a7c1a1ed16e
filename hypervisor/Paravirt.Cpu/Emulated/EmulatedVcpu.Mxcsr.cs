using System.Runtime.Intrinsics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Iced.Intel;
using static Paravirt.Cpu.Emulated.SseExceptions;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// MXCSR exception status flags for the SSE/SSE2 floating-point handlers (flags from <see cref="SseExceptions"/>).
/// Each handler computes its result, ORs the flags in, then writes the destination.
/// </summary>
public sealed partial class EmulatedVcpu
{
    /// <summary>
    /// Records the flags of one whole instruction before its destination is written. A flag whose mask bit
    /// (flag &lt;&lt; 7) is clear delivers #XM (vector 19; PV guests run with CR4.OSXMMEXCPT set) with nothing
    /// written; if the unmasked one is IE, DE or ZE (pre-computation), only those flags are reported, from every
    /// lane, as on hardware.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SseFlags(uint flags)
    {
        uint mx = Registers.Mxcsr;
        if ((flags & ~(mx >> 7) & All) != 0) RaiseSimd(flags);
        Registers.Mxcsr = mx | flags;
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseSimd(uint flags)
    {
        uint unmasked = flags & ~(Registers.Mxcsr >> 7) & All;
        if ((unmasked & (IE | DE | ZE)) != 0) flags &= IE | DE | ZE;
        Registers.Mxcsr |= flags;
        throw _fault.Set(ExceptionVector.SimdFloatingPoint, 0, false, 0);
    }

    /// <summary>Scalar binary64 arithmetic: the host's round-to-nearest with the default control (RC nearest, no
    /// FZ, no DAZ), else <see cref="SseRounding"/> (out of line, so this path stays as it was).</summary>
    private void ArithSd(int r, Arith op, double a, double b)
    {
        uint mx = Registers.Mxcsr;
        if ((mx & SseRounding.Controls) != 0) { ArithSdControlled(r, op, a, b); return; }
        double v = op switch
        {
            Arith.Add => a + b, Arith.Sub => a - b, Arith.Mul => a * b, Arith.Div => a / b, _ => Math.Sqrt(b),
        };
        SseFlags(SseExceptions.Double(op, a, b, v, mx));
        SetSd(r, v);
    }

    private void ArithSs(int r, Arith op, float a, float b)
    {
        uint mx = Registers.Mxcsr;
        if ((mx & SseRounding.Controls) != 0) { ArithSsControlled(r, op, a, b); return; }
        float v = op switch
        {
            Arith.Add => a + b, Arith.Sub => a - b, Arith.Mul => a * b, Arith.Div => a / b, _ => MathF.Sqrt(b),
        };
        SseFlags(SseExceptions.Single(op, a, b, v, mx));
        SetSs(r, v);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ArithSdControlled(int r, Arith op, double a, double b)
    {
        double v = SseRounding.Double(op, a, b, Registers.Mxcsr, out uint f);
        SseFlags(f);
        SetSd(r, v);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ArithSsControlled(int r, Arith op, float a, float b)
    {
        float v = SseRounding.Single(op, a, b, Registers.Mxcsr, out uint f);
        SseFlags(f);
        SetSs(r, v);
    }

    // Conversions under a non-default control, out of line (each raises the whole instruction's flags once).

    [MethodImpl(MethodImplOptions.NoInlining)]
    private double Int64ToDoubleControlled(long v)
    {
        double r = SseRounding.Int64ToDouble(v, Registers.Mxcsr, out uint f);
        SseFlags(f);
        return r;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private float Int64ToSingleControlled(long v)
    {
        float r = SseRounding.Int64ToSingle(v, Registers.Mxcsr, out uint f);
        SseFlags(f);
        return r;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private float DoubleToSingleControlled(double v)
    {
        float r = SseRounding.DoubleToSingle(v, Registers.Mxcsr, out uint f);
        SseFlags(f);
        return r;
    }

    /// <summary>cvtdq2ps: four lanes into <paramref name="ro"/> (a scratch buffer); returns their flags.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe uint Cvtdq2psControlled(int* s, float* ro)
    {
        uint mx = Registers.Mxcsr, f = 0;
        for (int i = 0; i < 4; i++)
        {
            ro[i] = SseRounding.Int64ToSingle(s[i], mx, out uint lf);
            f |= lf;
        }
        return f;
    }

    /// <summary>cvtpd2ps: two lanes into <paramref name="ro"/> (a scratch buffer); returns their flags.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe uint Cvtpd2psControlled(double* s, float* ro)
    {
        uint mx = Registers.Mxcsr;
        ro[0] = SseRounding.DoubleToSingle(s[0], mx, out uint f0);
        ro[1] = SseRounding.DoubleToSingle(s[1], mx, out uint f1);
        return f0 | f1;
    }

    /// <summary>MXCSR.DAZ on a source operand (min/max, compares, conversions).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double Daz(double v) => SseRounding.Source(v, Registers.Mxcsr);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Daz(float v) => SseRounding.Source(v, Registers.Mxcsr);

    /// <summary>
    /// Packed arithmetic and min/max under a non-default MXCSR control, lane by lane (flags of every lane
    /// gathered before the destination is written).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExecutePackedFloatControlled(ref DecodedInstruction d)
    {
        var (lo, hi) = ReadXmmOperand(ref d, d.Kind1, d.Reg1, aligned: true);
        int r = d.Reg0 * 2;
        var a = Vector128.Create(Registers.Xmm[r], Registers.Xmm[r + 1]);
        var b = Vector128.Create(lo, hi);
        Code code = d.Code;
        uint mx = Registers.Mxcsr, f = 0, lf;
        Vector128<ulong> v;
        Arith op;
        switch (code)
        {
            case Code.Addps_xmm_xmmm128: case Code.Addpd_xmm_xmmm128: op = Arith.Add; break;
            case Code.Subps_xmm_xmmm128: case Code.Subpd_xmm_xmmm128: op = Arith.Sub; break;
            case Code.Mulps_xmm_xmmm128: case Code.Mulpd_xmm_xmmm128: op = Arith.Mul; break;
            case Code.Divps_xmm_xmmm128: case Code.Divpd_xmm_xmmm128: op = Arith.Div; break;
            case Code.Sqrtps_xmm_xmmm128: case Code.Sqrtpd_xmm_xmmm128: op = Arith.Sqrt; break;
            case Code.Minps_xmm_xmmm128: case Code.Maxps_xmm_xmmm128:
            {
                // Only DAZ acts on min/max: the flushed operands are compared and returned.
                bool max = code == Code.Maxps_xmm_xmmm128;
                var vf = Vector128<float>.Zero;
                for (int i = 0; i < 4; i++)
                {
                    float x = SseRounding.Source(a.AsSingle().GetElement(i), mx), y = SseRounding.Source(b.AsSingle().GetElement(i), mx);
                    f |= Compare(x, y, signalling: true);
                    vf = vf.WithElement(i, max ? (x > y ? x : y) : (x < y ? x : y));
                }
                SseFlags(f);
                v = vf.AsUInt64();
                Registers.Xmm[r] = v.GetElement(0);
                Registers.Xmm[r + 1] = v.GetElement(1);
                return;
            }
            case Code.Minpd_xmm_xmmm128: case Code.Maxpd_xmm_xmmm128:
            {
                bool max = code == Code.Maxpd_xmm_xmmm128;
                var vd = Vector128<double>.Zero;
                for (int i = 0; i < 2; i++)
                {
                    double x = SseRounding.Source(a.AsDouble().GetElement(i), mx), y = SseRounding.Source(b.AsDouble().GetElement(i), mx);
                    f |= Compare(x, y, signalling: true);
                    vd = vd.WithElement(i, max ? (x > y ? x : y) : (x < y ? x : y));
                }
                SseFlags(f);
                v = vd.AsUInt64();
                Registers.Xmm[r] = v.GetElement(0);
                Registers.Xmm[r + 1] = v.GetElement(1);
                return;
            }
            default: RaiseUnimplemented(); return;
        }
        if (code is Code.Addps_xmm_xmmm128 or Code.Subps_xmm_xmmm128 or Code.Mulps_xmm_xmmm128 or Code.Divps_xmm_xmmm128
            or Code.Sqrtps_xmm_xmmm128)
        {
            var af = a.AsSingle(); var bf = b.AsSingle();
            var vf = Vector128<float>.Zero;
            for (int i = 0; i < 4; i++)
            {
                vf = vf.WithElement(i, SseRounding.Single(op, af.GetElement(i), bf.GetElement(i), mx, out lf));
                f |= lf;
            }
            v = vf.AsUInt64();
        }
        else
        {
            var ad = a.AsDouble(); var bd = b.AsDouble();
            var vd = Vector128<double>.Zero;
            for (int i = 0; i < 2; i++)
            {
                vd = vd.WithElement(i, SseRounding.Double(op, ad.GetElement(i), bd.GetElement(i), mx, out lf));
                f |= lf;
            }
            v = vd.AsUInt64();
        }
        SseFlags(f);
        Registers.Xmm[r] = v.GetElement(0);
        Registers.Xmm[r + 1] = v.GetElement(1);
    }

    /// <summary>cvt(t)s*2si: rounded is v rounded to an integral value (by truncation or MXCSR.RC).</summary>
    private ulong ConvertToInt(double v, double rounded, int size)
    {
        uint f = 0;
        ulong result = ConvertToInt(v, rounded, size, ref f);
        SseFlags(f);
        return result;
    }

    /// <summary>One lane of a packed conversion: flags accumulate in <paramref name="flags"/>.</summary>
    private static ulong ConvertToInt(double v, double rounded, int size, ref uint flags)
    {
        bool indefinite = size == 4
            ? !(rounded > -2147483649.0 && rounded < 2147483648.0)
            : !(rounded >= -9223372036854775808.0 && rounded < 9223372036854775808.0);
        flags |= ToInteger(v, rounded, indefinite);
        return size == 4 ? TruncateTo32(rounded) : TruncateTo64(rounded);
    }

    private static uint Int64ToDoubleFlags(long v, double r) =>
        r >= 9223372036854775808.0 || (long)r != v ? PE : 0;

    private static uint Int64ToSingleFlags(long v, float r) =>
        r >= 9223372036854775808.0f || (long)r != v ? PE : 0;

    /// <summary>Flags of the packed float arithmetic in <paramref name="code"/>, lane by lane.</summary>
    private uint PackedFlags(Code code, Vector128<ulong> a,
        Vector128<ulong> b, Vector128<ulong> v)
    {
        uint have = Registers.Mxcsr, f = 0;
        switch (code)
        {
            case Code.Addps_xmm_xmmm128: return LanesS(Arith.Add, a, b, v, have);
            case Code.Subps_xmm_xmmm128: return LanesS(Arith.Sub, a, b, v, have);
            case Code.Mulps_xmm_xmmm128: return LanesS(Arith.Mul, a, b, v, have);
            case Code.Divps_xmm_xmmm128: return LanesS(Arith.Div, a, b, v, have);
            case Code.Sqrtps_xmm_xmmm128: return LanesS(Arith.Sqrt, a, b, v, have);
            case Code.Addpd_xmm_xmmm128: return LanesD(Arith.Add, a, b, v, have);
            case Code.Subpd_xmm_xmmm128: return LanesD(Arith.Sub, a, b, v, have);
            case Code.Mulpd_xmm_xmmm128: return LanesD(Arith.Mul, a, b, v, have);
            case Code.Divpd_xmm_xmmm128: return LanesD(Arith.Div, a, b, v, have);
            case Code.Sqrtpd_xmm_xmmm128: return LanesD(Arith.Sqrt, a, b, v, have);
            case Code.Minps_xmm_xmmm128: case Code.Maxps_xmm_xmmm128:
            {
                var af = a.AsSingle(); var bf = b.AsSingle();
                for (int i = 0; i < 4; i++) f |= Compare(af.GetElement(i), bf.GetElement(i), signalling: true);
                return f;
            }
            case Code.Minpd_xmm_xmmm128: case Code.Maxpd_xmm_xmmm128:
            {
                var ad = a.AsDouble(); var bd = b.AsDouble();
                for (int i = 0; i < 2; i++) f |= Compare(ad.GetElement(i), bd.GetElement(i), signalling: true);
                return f;
            }
            default: return 0;
        }
    }

    private static uint LanesS(Arith op, Vector128<ulong> a,
        Vector128<ulong> b, Vector128<ulong> v, uint have)
    {
        var af = a.AsSingle(); var bf = b.AsSingle(); var vf = v.AsSingle();
        uint f = 0;
        for (int i = 0; i < 4; i++) f |= Single(op, af.GetElement(i), bf.GetElement(i), vf.GetElement(i), have | f);
        return f;
    }

    private static uint LanesD(Arith op, Vector128<ulong> a,
        Vector128<ulong> b, Vector128<ulong> v, uint have)
    {
        var ad = a.AsDouble(); var bd = b.AsDouble(); var vd = v.AsDouble();
        uint f = 0;
        for (int i = 0; i < 2; i++) f |= Double(op, ad.GetElement(i), bd.GetElement(i), vd.GetElement(i), have | f);
        return f;
    }

    /// <summary>cmp* predicates 1, 2, 5, 6 (lt, le, nlt, nle) signal on a QNaN; 0, 3, 4, 7 only on an SNaN.</summary>
    private static bool SignallingPredicate(int imm) => (imm & 3) is 1 or 2;
}
