using System.Numerics;
using System.Runtime.CompilerServices;
using static Paravirt.Cpu.Emulated.SseExceptions;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// SSE/SSE2 floating point under a non-default MXCSR control (SDM vol. 1, 4.8.4, 10.2.3.3, 11.5): rounding control
/// (RC, bits 13..14: nearest-even, down, up, toward zero), flush-to-zero (FZ, bit 15) and denormals-are-zero (DAZ,
/// bit 6). Results and flags are exact: the exact value is formed as an integer significand (mul, div, add/sub,
/// integer sources) or as the host's binary64 result plus the sign of its exact error (binary32 operations, whose
/// binary64 intermediate is correctly rounded, and sqrt), then rounded by <see cref="Round"/> with an unbounded
/// exponent (overflow and x86's after-rounding tininess) and with the real one (subnormal results).
/// Rules, checked against hardware: DAZ turns denormal sources into zeros of the same sign before anything else
/// (no DE from them, for arithmetic, compares, min/max, comis and every conversion); a tiny result with UE masked
/// and FZ set becomes a zero of the result's sign and reports UE and PE even when exact (FZ applies to cvtsd2ss and
/// cvtpd2ps too, not to min/max); with UE unmasked FZ does nothing and the tiny result traps as without it; overflow
/// gives infinity or the largest finite value as IEEE 754 says for the rounding direction, with OE and PE; an exact
/// zero sum is -0 when rounding down.
/// </summary>
public static class SseRounding
{
    /// <summary>MXCSR control bits this class handles: DAZ, RC, FZ. With all clear the host's arithmetic is used.</summary>
    public const uint Controls = 0xE040;
    public const uint Daz = 0x40, FlushToZero = 0x8000;
    private const uint UeMask = 0x800, OeMask = 0x400;

    /// <summary>Rounding of a magnitude: to nearest-even, away from zero, toward zero.</summary>
    private enum Mode : byte { Nearest, Away, TowardZero }

    /// <summary>Outcome of rounding one magnitude.</summary>
    private struct Outcome
    {
        public ulong Bits;          // magnitude bit pattern of the result
        public bool Inexact;        // the delivered (possibly subnormal) result differs from the exact value
        public bool Tiny;           // non-zero and below the smallest normal after rounding to an unbounded exponent
        public bool Overflow;       // above the largest finite value after rounding to an unbounded exponent
        public bool Unbounded;      // the unbounded-exponent rounding was inexact (PE of an unmasked UE or OE)
    }

    /// <summary>The binary64 or binary32 format.</summary>
    private readonly struct Format(int precision, int emin, int emax, ulong max, ulong infinity)
    {
        public readonly int P = precision, Emin = emin, Emax = emax;
        public readonly ulong Max = max, Infinity = infinity;
    }

    private static readonly Format Binary64 = new(53, -1022, 1023, 0x7FEF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000);
    private static readonly Format Binary32 = new(24, -126, 127, 0x7F7F_FFFF, 0x7F80_0000);

    private static Mode ModeOf(uint mxcsr, bool negative) => ((mxcsr >> 13) & 3) switch
    {
        0 => Mode.Nearest,
        1 => negative ? Mode.Away : Mode.TowardZero,
        2 => negative ? Mode.TowardZero : Mode.Away,
        _ => Mode.TowardZero,
    };

    /// <summary>DAZ: a denormal becomes a zero of its sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Flush(double v) =>
        double.IsSubnormal(v) ? BitConverter.UInt64BitsToDouble(BitConverter.DoubleToUInt64Bits(v) & 0x8000_0000_0000_0000) : v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Flush(float v) =>
        float.IsSubnormal(v) ? BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v) & 0x8000_0000) : v;

    /// <summary>Applies DAZ when MXCSR has it set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Source(double v, uint mxcsr) => (mxcsr & Daz) != 0 ? Flush(v) : v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Source(float v, uint mxcsr) => (mxcsr & Daz) != 0 ? Flush(v) : v;

    /// <summary>
    /// Rounds the magnitude sig * 2^exp (plus, when <paramref name="rest"/> is non-zero, an amount of that sign
    /// smaller than one unit of sig: sig then has at least precision + 2 bits) to the format with
    /// <paramref name="mode"/>: once with an unbounded exponent (overflow, tininess) and once into the format.
    /// </summary>
    private static Outcome Round(UInt128 sig, int exp, int rest, Mode mode, in Format f)
    {
        var o = default(Outcome);
        if (rest < 0)
        {
            // Just below sig * 2^exp: the same as just above (2 sig - 1) * 2^(exp - 1).
            sig = (sig << 1) - 1;
            exp--;
            rest = 1;
        }
        if (sig == UInt128.Zero) return o;
        int len = 128 - (int)UInt128.LeadingZeroCount(sig);
        int e = len - 1 + exp;
        int shift = len - f.P;
        UInt128 kept = Cut(sig, shift, rest != 0, mode, out bool inexact);
        int eu = e + (kept >> f.P != UInt128.Zero ? 1 : 0);
        if (eu > f.Emax)
        {
            o.Overflow = o.Inexact = true;
            o.Unbounded = inexact;
            o.Bits = mode == Mode.TowardZero ? f.Max : f.Infinity;
            return o;
        }
        if (e >= f.Emin)
        {
            // Biased exponent e - emin + 1, the hidden bit adding one more (and a carry out of the significand
            // moving to the next binade by itself).
            o.Bits = ((ulong)(e - f.Emin) << (f.P - 1)) + (ulong)kept;
            o.Inexact = inexact;
            return o;
        }
        o.Tiny = eu < f.Emin;
        o.Unbounded = inexact;
        // Subnormal: the significand loses emin - e more bits; rounding up to 2^(p-1) gives the smallest normal.
        o.Bits = (ulong)Cut(sig, shift + (f.Emin - e), rest != 0, mode, out o.Inexact);
        return o;
    }

    /// <summary>sig without its low <paramref name="shift"/> bits, rounded with <paramref name="mode"/>;
    /// <paramref name="sticky"/>: something non-zero lies below sig's last bit.</summary>
    private static UInt128 Cut(UInt128 sig, int shift, bool sticky, Mode mode, out bool inexact)
    {
        if (shift <= 0)
        {
            inexact = sticky;
            return sig << -shift;
        }
        UInt128 kept, low, half;
        if (shift > 127)
        {
            // Everything goes, and it is below half of the last kept bit.
            kept = UInt128.Zero;
            low = sig;
            half = UInt128.MaxValue;
        }
        else
        {
            kept = sig >> shift;
            low = sig & ((UInt128.One << shift) - 1);
            half = UInt128.One << (shift - 1);
        }
        inexact = low != UInt128.Zero || sticky;
        bool up = mode switch
        {
            Mode.Nearest => low > half || (low == half && (sticky || (kept & UInt128.One) != UInt128.Zero)),
            Mode.Away => inexact,
            _ => false,
        };
        return up ? kept + 1 : kept;
    }

    /// <summary>The MXCSR flags of a rounded finite result, with FZ applied to <paramref name="o"/>.Bits. With OE
    /// or UE unmasked the result traps, and PE then tells whether the unbounded-exponent result is inexact.</summary>
    private static uint Finish(ref Outcome o, uint mxcsr)
    {
        if (o.Overflow) return (mxcsr & OeMask) == 0 && !o.Unbounded ? OE : OE | PE;
        if (o.Tiny)
        {
            if ((mxcsr & UeMask) == 0) return o.Unbounded ? UE | PE : UE;
            if ((mxcsr & FlushToZero) != 0) { o.Bits = 0; return UE | PE; }
            return o.Inexact ? UE | PE : 0;
        }
        return o.Inexact ? PE : 0;
    }

    /// <summary>|v| = M * 2^E, M an integer below 2^53.</summary>
    private static (ulong M, int E) Decompose(double v)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(v);
        int be = (int)(bits >> 52) & 0x7FF;
        ulong frac = bits & 0x000F_FFFF_FFFF_FFFF;
        return be == 0 ? (frac, -1074) : (frac | 0x0010_0000_0000_0000, be - 1075);
    }

    private static double Signed(ulong magnitude, bool negative) =>
        BitConverter.UInt64BitsToDouble(magnitude | (negative ? 0x8000_0000_0000_0000 : 0));

    private static float SignedSingle(ulong magnitude, bool negative) =>
        BitConverter.UInt32BitsToSingle((uint)magnitude | (negative ? 0x8000_0000u : 0));

    /// <summary>Flags and result of the operands that need no rounding: NaNs, infinities, a zero divisor, an
    /// invalid operation. Returns false when a and b are finite and the operation is valid.</summary>
    private static bool Special(Arith op, double a, double b, double r, out uint flags)
    {
        flags = 0;
        if (double.IsNaN(a) || double.IsNaN(b)) { flags = IsSnan(a) || IsSnan(b) ? IE : 0; return true; }
        if (double.IsNaN(r)) { flags = IE; return true; }
        if (op == Arith.Div && b == 0 && !double.IsInfinity(a) && a != 0) { flags = ZE; return true; }
        if (!double.IsFinite(a) || !double.IsFinite(b)) { flags = double.IsSubnormal(a) || double.IsSubnormal(b) ? DE : 0; return true; }
        return false;
    }

    private static bool Special(Arith op, float a, float b, float r, out uint flags)
    {
        flags = 0;
        if (float.IsNaN(a) || float.IsNaN(b)) { flags = IsSnan(a) || IsSnan(b) ? IE : 0; return true; }
        if (float.IsNaN(r)) { flags = IE; return true; }
        if (op == Arith.Div && b == 0 && !float.IsInfinity(a) && a != 0) { flags = ZE; return true; }
        if (!float.IsFinite(a) || !float.IsFinite(b)) { flags = float.IsSubnormal(a) || float.IsSubnormal(b) ? DE : 0; return true; }
        return false;
    }

    /// <summary>binary64 add/sub/mul/div/sqrt of a and b (sqrt: b only) under <paramref name="mxcsr"/>.</summary>
    public static double Double(Arith op, double a, double b, uint mxcsr, out uint flags)
    {
        if ((mxcsr & Daz) != 0) { a = Flush(a); b = Flush(b); }
        if (op == Arith.Sqrt) a = b;
        double r = op switch
        {
            Arith.Add => a + b, Arith.Sub => a - b, Arith.Mul => a * b, Arith.Div => a / b, _ => Math.Sqrt(b),
        };
        if (Special(op, a, b, r, out flags)) return r;
        uint de = double.IsSubnormal(a) || double.IsSubnormal(b) ? DE : 0;
        if (op == Arith.Sqrt)
        {
            flags = de;
            if (b == 0) return r;
            // Never tiny, never overflows: step the nearest result by the sign of the exact remainder.
            double s = b, q = r;
            if (b < 1e-200) { s = Math.ScaleB(b, 200); q = Math.ScaleB(r, 100); }
            double rem = Math.FusedMultiplyAdd(-q, q, s);
            if (rem == 0) return r;
            flags |= PE;
            return Step(r, rem > 0 ? 1 : -1, ModeOf(mxcsr, false));
        }
        var (ma, ea) = Decompose(a);
        var (mb, eb) = Decompose(b);
        bool negative;
        UInt128 sig;
        int exp, rest = 0;
        if (op is Arith.Add or Arith.Sub)
        {
            bool na = double.IsNegative(a), nb = double.IsNegative(b) ^ (op == Arith.Sub);
            if (ma == 0 && mb == 0 || a == (op == Arith.Add ? -b : b))
            {
                // An exact zero: the operands' sign if they agree, else -0 rounding down and +0 otherwise.
                flags = de;
                bool minus = na == nb ? na : ((mxcsr >> 13) & 3) == 1;
                return minus ? -0.0 : 0.0;
            }
            // Order by magnitude: |a| > |b|, and the result has a's sign.
            if ((BitConverter.DoubleToUInt64Bits(a) & 0x7FFF_FFFF_FFFF_FFFF) < (BitConverter.DoubleToUInt64Bits(b) & 0x7FFF_FFFF_FFFF_FFFF))
            {
                (ma, mb) = (mb, ma);
                (ea, eb) = (eb, ea);
                (na, nb) = (nb, na);
            }
            negative = na;
            int gap = ea - eb;
            sig = (UInt128)ma << 66;
            exp = ea - 66;
            if (mb == 0) { }
            else if (gap <= 66)
            {
                UInt128 small = (UInt128)mb << (66 - gap);
                sig = na == nb ? sig + small : sig - small;
            }
            else
            {
                // b lies wholly below a's last bit (and sig has 119 bits): only its sign counts.
                rest = na == nb ? 1 : -1;
            }
        }
        else
        {
            negative = double.IsNegative(a) ^ double.IsNegative(b);
            if (ma == 0 || (op == Arith.Mul && mb == 0)) { flags = de; return r; }
            if (op == Arith.Mul)
            {
                sig = (UInt128)ma * mb;
                exp = ea + eb;
            }
            else
            {
                // Normalised significands, then a quotient of 75 or 76 bits and a sticky remainder.
                int za = BitOperations.LeadingZeroCount(ma) - 11, zb = BitOperations.LeadingZeroCount(mb) - 11;
                ma <<= za; ea -= za; mb <<= zb; eb -= zb;
                UInt128 n = (UInt128)ma << 75;
                sig = n / mb;
                rest = n % mb != UInt128.Zero ? 1 : 0;
                exp = ea - eb - 75;
            }
        }
        var o = Round(sig, exp, rest, ModeOf(mxcsr, negative), Binary64);
        flags = de | Finish(ref o, mxcsr);
        return Signed(o.Bits, negative);
    }

    /// <summary>x stepped one unit in magnitude when the exact value lies <paramref name="side"/> of it
    /// (x is the nearest value, so the step is the whole correction).</summary>
    private static double Step(double x, int side, Mode mode)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(x);
        if (mode == Mode.Away && side > 0) bits++;
        else if (mode == Mode.TowardZero && side < 0) bits--;
        return BitConverter.UInt64BitsToDouble(bits);
    }

    /// <summary>binary32 add/sub/mul/div/sqrt of a and b (sqrt: b only) under <paramref name="mxcsr"/>. The
    /// operation is done in binary64 (exact for mul, correctly rounded with a known error sign otherwise), which
    /// decides every binary32 rounding: the binary32 grid and its midpoints lie on the binary64 grid.</summary>
    public static float Single(Arith op, float a, float b, uint mxcsr, out uint flags)
    {
        if ((mxcsr & Daz) != 0) { a = Flush(a); b = Flush(b); }
        if (op == Arith.Sqrt) a = b;
        float r = op switch
        {
            Arith.Add => a + b, Arith.Sub => a - b, Arith.Mul => a * b, Arith.Div => a / b, _ => MathF.Sqrt(b),
        };
        if (Special(op, a, b, r, out flags)) return r;
        uint de = float.IsSubnormal(a) || float.IsSubnormal(b) ? DE : 0;
        double da = a, db = b, d;
        int side; // sign of (exact - d)
        switch (op)
        {
            case Arith.Add: case Arith.Sub:
            {
                double bb = op == Arith.Add ? db : -db;
                d = da + bb;
                if (d == 0)
                {
                    flags = de;
                    bool na = double.IsNegative(da), nb = double.IsNegative(bb);
                    return na == nb && da == 0 && bb == 0 ? r : ((mxcsr >> 13) & 3) == 1 ? -0f : 0f;
                }
                double av = d - bb, bv = d - av, err = (da - av) + (bb - bv);
                side = Math.Sign(err);
                break;
            }
            case Arith.Mul: d = da * db; side = 0; break;
            case Arith.Div:
                d = da / db;
                side = Math.Sign(Math.FusedMultiplyAdd(-d, db, da)) * Math.Sign(db);
                break;
            default:
                d = Math.Sqrt(db);
                side = Math.Sign(Math.FusedMultiplyAdd(-d, d, db));
                break;
        }
        if (d == 0) { flags = de; return r; }
        float v = Narrow(d, side, mxcsr, out uint f);
        flags = de | f;
        return v;
    }

    /// <summary>The binary32 rounding (MXCSR.RC, FZ) of d plus an error of sign <paramref name="side"/>
    /// smaller than half a binary64 unit of d, with its OE/UE/PE.</summary>
    private static float Narrow(double d, int side, uint mxcsr, out uint flags)
    {
        bool negative = double.IsNegative(d);
        var (m, e) = Decompose(d);
        var o = Round(m, e, negative ? -side : side, ModeOf(mxcsr, negative), Binary32);
        flags = Finish(ref o, mxcsr);
        return SignedSingle(o.Bits, negative);
    }

    /// <summary>cvtsd2ss/cvtpd2ps (one lane): DAZ on the source, RC and FZ on the result.</summary>
    public static float DoubleToSingle(double d, uint mxcsr, out uint flags)
    {
        if ((mxcsr & Daz) != 0) d = Flush(d);
        if (double.IsNaN(d) || double.IsInfinity(d) || d == 0)
        {
            flags = IsSnan(d) ? IE : 0;
            return (float)d;
        }
        float v = Narrow(d, 0, mxcsr, out uint f);
        flags = (double.IsSubnormal(d) ? DE : 0) | f;
        return v;
    }

    /// <summary>cvtsi2sd with a 64-bit source: RC when it needs more than 53 bits.</summary>
    public static double Int64ToDouble(long v, uint mxcsr, out uint flags)
    {
        bool negative = v < 0;
        var o = Round(negative ? 0UL - (ulong)v : (ulong)v, 0, 0, ModeOf(mxcsr, negative), Binary64);
        flags = o.Inexact ? PE : 0;
        return v == 0 ? 0.0 : Signed(o.Bits, negative);
    }

    /// <summary>cvtsi2ss (32- or 64-bit source) and cvtdq2ps lanes: RC when it needs more than 24 bits.</summary>
    public static float Int64ToSingle(long v, uint mxcsr, out uint flags)
    {
        bool negative = v < 0;
        var o = Round(negative ? 0UL - (ulong)v : (ulong)v, 0, 0, ModeOf(mxcsr, negative), Binary32);
        flags = o.Inexact ? PE : 0;
        return v == 0 ? 0f : SignedSingle(o.Bits, negative);
    }
}
