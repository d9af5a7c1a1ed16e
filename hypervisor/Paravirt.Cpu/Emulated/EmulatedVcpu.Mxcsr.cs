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
    /// FZ, no DAZ), else <see cref="SseRounding"/>.</summary>
    private void ArithSd(int r, Arith op, double a, double b)
    {
        uint mx = Registers.Mxcsr;
        double v;
        if ((mx & SseRounding.Controls) == 0)
        {
            v = op switch
            {
                Arith.Add => a + b, Arith.Sub => a - b, Arith.Mul => a * b, Arith.Div => a / b, _ => Math.Sqrt(b),
            };
            SseFlags(SseExceptions.Double(op, a, b, v, mx));
        }
        else
        {
            v = SseRounding.Double(op, a, b, mx, out uint f);
            SseFlags(f);
        }
        SetSd(r, v);
    }

    private void ArithSs(int r, Arith op, float a, float b)
    {
        uint mx = Registers.Mxcsr;
        float v;
        if ((mx & SseRounding.Controls) == 0)
        {
            v = op switch
            {
                Arith.Add => a + b, Arith.Sub => a - b, Arith.Mul => a * b, Arith.Div => a / b, _ => MathF.Sqrt(b),
            };
            SseFlags(SseExceptions.Single(op, a, b, v, mx));
        }
        else
        {
            v = SseRounding.Single(op, a, b, mx, out uint f);
            SseFlags(f);
        }
        SetSs(r, v);
    }

    /// <summary>MXCSR.DAZ on a source operand (min/max, compares, conversions).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double Daz(double v) => SseRounding.Source(v, Registers.Mxcsr);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Daz(float v) => SseRounding.Source(v, Registers.Mxcsr);

    /// <summary>
    /// Packed arithmetic and min/max under a non-default MXCSR control, lane by lane (flags of every lane
    /// gathered before anything is written). False for the other packed codes.
    /// </summary>
    private bool PackedControlled(Code code, Vector128<ulong> a, Vector128<ulong> b, out Vector128<ulong> v)
    {
        uint mx = Registers.Mxcsr, f = 0, lf;
        v = default;
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
                return true;
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
                return true;
            }
            default: return false;
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
        return true;
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
