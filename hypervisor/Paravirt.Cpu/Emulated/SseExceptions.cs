using System.Runtime.CompilerServices;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// MXCSR exception status flags of SSE/SSE2 floating-point operations, computed from the operands and the host's
/// round-to-nearest result without changing the host's rounding (SDM vol. 1, 11.5). Rules, checked against hardware:
/// an SNaN operand gives IE and nothing else; a QNaN operand gives nothing (IE for the signalling compares, min/max
/// and comis); an invalid operation (inf - inf, 0 * inf, 0 / 0, inf / inf, sqrt of a negative) gives IE only; a
/// finite non-zero dividend over zero gives ZE only; otherwise a denormal operand gives DE, an overflow OE and PE, a
/// tiny (after rounding, x86 style) inexact result UE and PE, any other inexact result PE. Exactness comes from the
/// error-free transforms: TwoSum for add/sub, fma for mul (a*b - p), div (a - q*b) and sqrt (a - r*r), with the
/// operands rescaled when the result is near the subnormal range so the error term cannot underflow. With OE
/// unmasked an overflow traps and reports PE only if the unbounded-exponent result is inexact (that rare case is
/// worked out by <see cref="SseRounding"/>). These are the flags of the default MXCSR control (round to nearest, no
/// FZ, no DAZ); <see cref="SseRounding"/> handles the others.
/// </summary>
public static class SseExceptions
{
    public const uint IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32, All = 0x3F;

    /// <summary>MXCSR.UM: with it clear, a tiny result reports UE even when exact.</summary>
    private const uint UeMask = 0x800;

    /// <summary>PE set and masked (PM): another inexact result changes nothing, so its test can be skipped. With PM
    /// clear an inexact result traps however PE stands.</summary>
    private const uint PeKnown = PE | 0x1000;

    /// <summary>MXCSR.OM: with it clear, an overflow reports PE only when the unbounded-exponent result is
    /// inexact (worked out by <see cref="SseRounding"/>, which rounds with an unbounded exponent).</summary>
    private const uint OeMask = 0x400;

    public enum Arith : byte { Add, Sub, Mul, Div, Sqrt }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsSnan(double v) => double.IsNaN(v) && (BitConverter.DoubleToUInt64Bits(v) & (1UL << 51)) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsSnan(float v) => float.IsNaN(v) && (BitConverter.SingleToUInt32Bits(v) & (1u << 22)) == 0;

    /// <summary>2^-960: results at or above it cannot be tiny and leave room for an exact fma error term.</summary>
    private static readonly double Near = BitConverter.UInt64BitsToDouble(0x03F0_0000_0000_0000);

    /// <summary>Flags of binary64 <paramref name="op"/> on a and b (sqrt: b only) whose round-to-nearest result is r.</summary>
    public static uint Double(Arith op, double a, double b, double r, uint have)
    {
        if (op == Arith.Sqrt) a = b;
        if (double.IsNaN(a) || double.IsNaN(b)) return IsSnan(a) || IsSnan(b) ? IE : 0;
        if (double.IsNaN(r)) return IE;
        if (op == Arith.Div && b == 0 && !double.IsInfinity(a) && a != 0) return ZE;
        uint f = double.IsSubnormal(a) || double.IsSubnormal(b) ? DE : 0;
        if (!double.IsFinite(a) || !double.IsFinite(b)) return f;
        if (double.IsInfinity(r)) return (have & OeMask) != 0 ? f | OE | PE : UnmaskedOverflow(op, a, b, have);
        // Sums in the subnormal range are exact: tiny (UE) only matters when UE is unmasked.
        bool ueTrap = (have & UeMask) == 0;
        if (ueTrap && op is Arith.Add or Arith.Sub && double.IsSubnormal(r)) return f | UE;
        // Fast path: PE already set and masked, and no underflow possible (add/sub/sqrt never underflow).
        if ((have & PeKnown) == PeKnown && (op is Arith.Add or Arith.Sub or Arith.Sqrt || Math.Abs(r) >= Near)) return f;
        switch (op)
        {
            case Arith.Add: case Arith.Sub:
            {
                // Sums in the subnormal range are exact, so add/sub never underflow.
                double bb = op == Arith.Add ? b : -b;
                double av = r - bb, bv = r - av;
                return (a - av) + (bb - bv) != 0 ? f | PE : f;
            }
            case Arith.Mul:
                if (Math.Abs(r) >= Near) return Math.FusedMultiplyAdd(a, b, -r) != 0 ? f | PE : f;
                if (a == 0 || b == 0) return f;
                return f | Scaled(Math.ScaleB(a, -Math.ILogB(a)), Math.ScaleB(b, -Math.ILogB(b)), Math.ILogB(a) + Math.ILogB(b), r, mul: true, ueTrap);
            case Arith.Div:
                if (Math.Abs(r) >= Near && Math.Abs(a) >= Near) return Math.FusedMultiplyAdd(-r, b, a) != 0 ? f | PE : f;
                if (a == 0) return f;
                return f | Scaled(Math.ScaleB(a, -Math.ILogB(a)), Math.ScaleB(b, -Math.ILogB(b)), Math.ILogB(a) - Math.ILogB(b), r, mul: false, ueTrap);
            default:
            {
                // sqrt never underflows; rescale a small radicand by an even power so the remainder stays exact.
                if (b == 0) return f;
                double s = b, q = r;
                if (b < Near) { s = Math.ScaleB(b, 200); q = Math.ScaleB(r, 100); }
                return Math.FusedMultiplyAdd(-q, q, s) != 0 ? f | PE : f;
            }
        }
    }

    /// <summary>Flags of an overflow with OE unmasked (it traps): worked out exactly by <see cref="SseRounding"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint UnmaskedOverflow(Arith op, double a, double b, uint have)
    {
        SseRounding.Double(op, a, b, have, out uint flags);
        return flags;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint UnmaskedOverflow(Arith op, float a, float b, uint have)
    {
        SseRounding.Single(op, a, b, have, out uint flags);
        return flags;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint UnmaskedOverflow(double d, uint have)
    {
        SseRounding.DoubleToSingle(d, have, out uint flags);
        return flags;
    }

    /// <summary>mul/div with mantissas ma, mb in [1, 2) and exponent e of the exact result: tininess with an
    /// unbounded exponent, and whether the subnormal-range result r lost bits. With UE unmasked an exact tiny
    /// result reports UE too, as on hardware.</summary>
    private static uint Scaled(double ma, double mb, int e, double r, bool mul, bool ueTrap)
    {
        double m = mul ? ma * mb : ma / mb;
        bool exact = mul ? Math.FusedMultiplyAdd(ma, mb, -m) == 0 : Math.FusedMultiplyAdd(-m, mb, ma) == 0;
        bool tiny = Math.ILogB(m) + e < -1022;
        // With UE unmasked a tiny result traps and PE tells whether the unbounded-exponent result is inexact.
        if (ueTrap && tiny) return exact ? UE : UE | PE;
        if (exact && Math.ScaleB(r, -e) == m) return 0;
        return tiny ? UE | PE : PE;
    }

    /// <summary>Flags of binary32 <paramref name="op"/> on a and b (sqrt: b only) whose round-to-nearest result is r.
    /// The exact result is formed in binary64 (exact for mul, correctly rounded otherwise, which is enough: the
    /// second rounding to 24 bits gives the binary32 result, so only its own error and the first one matter).</summary>
    public static uint Single(Arith op, float a, float b, float r, uint have)
    {
        if (op == Arith.Sqrt) a = b;
        if (float.IsNaN(a) || float.IsNaN(b)) return IsSnan(a) || IsSnan(b) ? IE : 0;
        if (float.IsNaN(r)) return IE;
        if (op == Arith.Div && b == 0 && !float.IsInfinity(a) && a != 0) return ZE;
        uint f = float.IsSubnormal(a) || float.IsSubnormal(b) ? DE : 0;
        if (!float.IsFinite(a) || !float.IsFinite(b)) return f;
        if (float.IsInfinity(r)) return (have & OeMask) != 0 ? f | OE | PE : UnmaskedOverflow(op, a, b, have);
        if ((have & PeKnown) == PeKnown && Math.Abs(r) > 1.1754943508222875e-38f) return f;
        double da = a, db = b, d;
        bool inexact;
        switch (op)
        {
            case Arith.Add: case Arith.Sub:
            {
                double bb = op == Arith.Add ? db : -db;
                d = da + bb;
                double av = d - bb, bv = d - av;
                inexact = (da - av) + (bb - bv) != 0;
                break;
            }
            case Arith.Mul: d = da * db; inexact = false; break;
            case Arith.Div: d = da / db; inexact = Math.FusedMultiplyAdd(-d, db, da) != 0; break;
            default: d = Math.Sqrt(db); inexact = Math.FusedMultiplyAdd(-d, d, db) != 0; break;
        }
        return f | Narrowed(d, r, inexact, have);
    }

    /// <summary>Flags of rounding the binary64 value d (already inexact if <paramref name="inexact"/>) to the
    /// binary32 r: overflow, underflow (tiny after rounding with an unbounded exponent, and inexact), inexact.</summary>
    public static uint Narrowed(double d, float r, bool inexact, uint have)
    {
        if (float.IsInfinity(r) && !double.IsInfinity(d)) return OE | PE;
        if (!inexact && r == d && (r == 0 || Math.Abs(r) >= 1.1754943508222875e-38f || (have & UeMask) != 0)) return 0;
        if (Math.Abs(r) > 1.1754943508222875e-38f) return PE;
        // Tiny: rounded to 24 bits with an unbounded exponent (the mantissa, in [1, 2), rounded alone), below
        // 2^-126. With UE unmasked a tiny result traps and PE tells whether that unbounded result is inexact.
        int e = Math.ILogB(d);
        double m = Math.ScaleB(d, -e);
        float t = (float)m;
        if (e + (Math.Abs(t) >= 2 ? 1 : 0) >= -126) return PE;
        if ((have & UeMask) == 0) return inexact || t != m ? UE | PE : UE;
        return UE | PE;
    }

    /// <summary>cvtsd2ss flags.</summary>
    public static uint DoubleToSingle(double d, float r, uint have)
    {
        if (double.IsNaN(d)) return IsSnan(d) ? IE : 0;
        uint f = double.IsSubnormal(d) ? DE : 0;
        if (double.IsInfinity(d)) return 0;
        if (float.IsInfinity(r) && (have & OeMask) == 0) return UnmaskedOverflow(d, have);
        return f | Narrowed(d, r, false, have);
    }

    /// <summary>cvtss2sd flags (always exact).</summary>
    public static uint SingleToDouble(float v) => float.IsNaN(v) ? (IsSnan(v) ? IE : 0) : float.IsSubnormal(v) ? DE : 0;

    /// <summary>Flags of a float-to-integer conversion of v, already rounded to the integral value rounded:
    /// IE when the integer indefinite value is returned, else PE when rounding changed v. No DE, as on hardware.</summary>
    public static uint ToInteger(double v, double rounded, bool indefinite) =>
        indefinite ? IE : rounded != v ? PE : 0;

    /// <summary>Flags of min/max/comis/signalling compares (any NaN: IE) and ucomis/quiet compares (SNaN: IE).</summary>
    public static uint Compare(double a, double b, bool signalling)
    {
        if (double.IsNaN(a) || double.IsNaN(b)) return signalling || IsSnan(a) || IsSnan(b) ? IE : 0;
        return double.IsSubnormal(a) || double.IsSubnormal(b) ? DE : 0;
    }

    public static uint Compare(float a, float b, bool signalling)
    {
        if (float.IsNaN(a) || float.IsNaN(b)) return signalling || IsSnan(a) || IsSnan(b) ? IE : 0;
        return float.IsSubnormal(a) || float.IsSubnormal(b) ? DE : 0;
    }
}
