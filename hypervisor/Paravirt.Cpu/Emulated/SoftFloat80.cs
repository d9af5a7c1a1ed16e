using System.Numerics;

namespace Paravirt.Cpu.Emulated;

/// <summary>An x87 register value: the 80-bit double-extended format (SDM vol. 1, 4.2.2), explicit integer bit.</summary>
internal struct Fp80
{
    public ulong Mant;
    /// <summary>Sign (bit 15) and biased exponent (bits 0..14, bias 16383).</summary>
    public ushort SignExp;

    public Fp80(ushort signExp, ulong mant) { SignExp = signExp; Mant = mant; }

    public readonly bool Sign => (SignExp & 0x8000) != 0;
    public readonly int Exponent => SignExp & 0x7FFF;

    public static readonly Fp80 Indefinite = new(0xFFFF, 0xC000_0000_0000_0000);
    public static readonly Fp80 Zero = new(0, 0);
    public static readonly Fp80 One = new(0x3FFF, 0x8000_0000_0000_0000);
}

/// <summary>Value classes of an unpacked operand.</summary>
internal enum FpClass : byte { Zero, Normal, Infinity, QuietNaN, SignalingNaN, Unsupported }

/// <summary>
/// Rounding context of one x87 operation: the precision and rounding controls from FCW, and the exception flags and
/// C1 (rounded-up) indication the operation produced.
/// </summary>
internal struct FpContext
{
    public const ushort IE = 1, DE = 2, ZE = 4, OE = 8, UE = 0x10, PE = 0x20;

    /// <summary>0 nearest-even, 1 down, 2 up, 3 toward zero (FCW.RC, MXCSR.RC).</summary>
    public int Rounding;
    /// <summary>Significand bits kept: 24, 53 or 64 (FCW.PC).</summary>
    public int Precision;
    public ushort Flags;
    public bool RoundedUp;

    public static FpContext FromControlWord(ushort fcw) => new()
    {
        Rounding = (fcw >> 10) & 3,
        Precision = ((fcw >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 },
    };
}

/// <summary>
/// Software IEEE-754 arithmetic in the x87 double-extended format: add, subtract, multiply, divide, square root,
/// round-to-integer and conversions to and from binary32/binary64 and integers, each correctly rounded with the
/// context's precision and rounding control, with the x87 rules for NaNs (SDM vol. 1, 4.8.3.5 and table 4-7)
/// and unsupported encodings. Integer arithmetic on 128-bit significands; never uses host floating point.
/// </summary>
internal static class SoftFloat80
{
    public const int Bias = 16383;
    private const ulong IntegerBit = 0x8000_0000_0000_0000, QuietBit = 0x4000_0000_0000_0000;

    /// <summary>Unpack to sign, unbiased exponent and a significand normalised so bit 63 is set (value =
    /// sig / 2^63 * 2^exp). Denormals are normalised and flag DE.</summary>
    public static FpClass Unpack(Fp80 v, out bool sign, out int exp, out ulong sig, ref FpContext c)
    {
        sign = v.Sign;
        int e = v.Exponent;
        sig = v.Mant;
        exp = 0;
        if (e == 0x7FFF)
        {
            if ((sig & IntegerBit) == 0) return FpClass.Unsupported; // pseudo-infinity / pseudo-NaN
            if ((sig << 1) == 0) return FpClass.Infinity;
            return (sig & QuietBit) != 0 ? FpClass.QuietNaN : FpClass.SignalingNaN;
        }
        if (e == 0)
        {
            if (sig == 0) return FpClass.Zero;
            c.Flags |= FpContext.DE; // denormal or pseudo-denormal: both have exponent 1 - bias
            int lz = BitOperations.LeadingZeroCount(sig);
            sig <<= lz;
            exp = 1 - Bias - lz;
            return FpClass.Normal;
        }
        if ((sig & IntegerBit) == 0) return FpClass.Unsupported; // unnormal
        exp = e - Bias;
        return FpClass.Normal;
    }

    public static bool IsNaN(FpClass k) => k is FpClass.QuietNaN or FpClass.SignalingNaN;

    /// <summary>A NaN or an unsupported encoding: operations with such an operand do not report DE for the other.</summary>
    public static bool IsNaNOrUnsupported(Fp80 v) =>
        v.Exponent == 0x7FFF ? (v.Mant << 1) != 0 || (v.Mant & IntegerBit) == 0 : v.Exponent != 0 && (v.Mant & IntegerBit) == 0;

    /// <summary>Drop a DE reported since <paramref name="before"/> when an operand was a NaN or unsupported
    /// (hardware does not report the denormal operand then).</summary>
    public static void DropDenormalForNaN(Fp80 a, Fp80 b, ushort before, ref FpContext c)
    {
        if (IsNaNOrUnsupported(a) || IsNaNOrUnsupported(b))
            c.Flags = (ushort)((c.Flags & ~FpContext.DE) | (before & FpContext.DE));
    }

    // ---- rounding ----------------------------------------------------------------------------------------

    /// <summary>
    /// Round a normalised 128-bit significand (bit 127 set; value = sig / 2^127 * 2^exp) to
    /// <paramref name="precision"/> bits in a format with exponents emin..emax. On return sig holds the rounded
    /// significand in its top bits (bit 127 clear for a denormal, whose exp is emin). Returns false on overflow
    /// (the caller substitutes infinity or the largest finite value; OE and PE are set).
    /// </summary>
    private static bool Round(bool sign, ref int exp, ref UInt128 sig, int precision, int emin, int emax, ref FpContext c)
    {
        bool tiny = exp < emin;
        if (tiny)
        {
            sig = ShiftRightJam(sig, emin - exp);
            exp = emin;
        }
        int lsb = 128 - precision;
        UInt128 mask = (UInt128.One << lsb) - 1;
        UInt128 rest = sig & mask;
        sig &= ~mask;
        bool up = false;
        if (rest != 0)
        {
            c.Flags |= FpContext.PE;
            UInt128 half = UInt128.One << (lsb - 1);
            up = c.Rounding switch
            {
                0 => rest > half || (rest == half && ((sig >> lsb) & 1) != 0),
                1 => sign,
                2 => !sign,
                _ => false,
            };
            if (tiny) c.Flags |= FpContext.UE;
        }
        if (up)
        {
            c.RoundedUp = true;
            sig += UInt128.One << lsb;
            if (sig == 0)
            {
                sig = UInt128.One << 127;
                exp++;
            }
        }
        if (exp > emax && (sig >> 127) != 0)
        {
            c.Flags |= FpContext.OE | FpContext.PE;
            return false;
        }
        return true;
    }

    /// <summary>Overflow result: infinity, or the largest finite magnitude where the rounding direction points
    /// toward zero (SDM vol. 1, 4.9.1.4).</summary>
    private static bool OverflowToInfinity(bool sign, ref FpContext c)
    {
        bool inf = c.Rounding switch { 0 => true, 1 => sign, 2 => !sign, _ => false };
        if (inf) c.RoundedUp = true;
        return inf;
    }

    public static UInt128 ShiftRightJam(UInt128 v, int n)
    {
        if (n <= 0) return v;
        if (n >= 128) return v != 0 ? UInt128.One : UInt128.Zero;
        UInt128 lost = v & ((UInt128.One << n) - 1);
        return (v >> n) | (lost != 0 ? UInt128.One : UInt128.Zero);
    }

    /// <summary>Round and pack into the double-extended format with the context's precision control.</summary>
    public static Fp80 Pack(bool sign, int exp, UInt128 sig, ref FpContext c)
    {
        ushort s = (ushort)(sign ? 0x8000 : 0);
        if (sig == 0) return new Fp80(s, 0);
        int lz = (int)UInt128.LeadingZeroCount(sig);
        sig <<= lz;
        exp -= lz;
        if (!Round(sign, ref exp, ref sig, c.Precision, 1 - Bias, Bias, ref c))
        {
            if (OverflowToInfinity(sign, ref c)) return new Fp80((ushort)(s | 0x7FFF), IntegerBit);
            ulong max = ulong.MaxValue << (64 - c.Precision);
            return new Fp80((ushort)(s | 0x7FFE), max);
        }
        ulong mant = (ulong)(sig >> 64);
        if ((mant & IntegerBit) == 0) return new Fp80(s, mant); // denormal (or zero after underflow)
        return new Fp80((ushort)(s | (exp + Bias)), mant);
    }

    /// <summary>Pack from an unpacked 64-bit significand (bit 63 set; value = sig / 2^63 * 2^exp).</summary>
    public static Fp80 Pack(bool sign, int exp, ulong sig, ref FpContext c) => Pack(sign, exp + 64, (UInt128)sig, ref c);

    // ---- NaNs and invalid results ------------------------------------------------------------------------

    private static Fp80 Quiet(Fp80 v) => new(v.SignExp, v.Mant | QuietBit);

    /// <summary>x87 NaN propagation (SDM vol. 1, table 4-7): a QNaN source wins over an SNaN; of two NaNs of the
    /// same kind the larger significand wins; SNaNs signal invalid and are quietened.</summary>
    private static Fp80 PropagateNaN(Fp80 a, FpClass ka, Fp80 b, FpClass kb, ref FpContext c)
    {
        if (ka == FpClass.SignalingNaN || kb == FpClass.SignalingNaN) c.Flags |= FpContext.IE;
        bool an = IsNaN(ka), bn = IsNaN(kb);
        if (an && bn)
        {
            if (ka != kb) return Quiet(ka == FpClass.QuietNaN ? a : b);
            ulong ma = a.Mant | QuietBit, mb = b.Mant | QuietBit;
            if (ma != mb) return Quiet(ma > mb ? a : b);
            return Quiet(a.Sign ? b : a); // equal significands: the positive one
        }
        return Quiet(an ? a : b);
    }

    private static Fp80 Invalid(ref FpContext c)
    {
        c.Flags |= FpContext.IE;
        return Fp80.Indefinite;
    }

    // ---- arithmetic --------------------------------------------------------------------------------------

    public static Fp80 Add(Fp80 a, Fp80 b, bool subtract, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        var kb = Unpack(b, out bool sb, out int eb, out ulong mb, ref c);
        if (ka == FpClass.Unsupported || kb == FpClass.Unsupported) return Invalid(ref c);
        if (IsNaN(ka) || IsNaN(kb)) return PropagateNaN(a, ka, b, kb, ref c);
        if (subtract) sb = !sb;
        if (ka == FpClass.Infinity)
        {
            if (kb == FpClass.Infinity && sa != sb) return Invalid(ref c);
            return new Fp80((ushort)(sa ? 0xFFFF : 0x7FFF), IntegerBit);
        }
        if (kb == FpClass.Infinity) return new Fp80((ushort)(sb ? 0xFFFF : 0x7FFF), IntegerBit);
        if (ka == FpClass.Zero && kb == FpClass.Zero)
        {
            bool neg = sa == sb ? sa : c.Rounding == 1;
            return new Fp80((ushort)(neg ? 0x8000 : 0), 0);
        }
        if (kb == FpClass.Zero) return Pack(sa, ea, ma, ref c);
        if (ka == FpClass.Zero) return Pack(sb, eb, mb, ref c);

        // value = X / 2^127 * 2^E with the leading bit of the larger operand at bit 126 (one bit of headroom).
        if (ea < eb || (ea == eb && ma < mb))
        {
            (sa, sb) = (sb, sa);
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
        }
        UInt128 x = (UInt128)ma << 63;
        UInt128 y = ShiftRightJam((UInt128)mb << 63, ea - eb);
        int e = ea + 1;
        if (sa == sb) return Pack(sa, e, x + y, ref c);
        UInt128 diff = x - y;
        if (diff == 0) return new Fp80((ushort)(c.Rounding == 1 ? 0x8000 : 0), 0);
        return Pack(sa, e, diff, ref c);
    }

    public static Fp80 Multiply(Fp80 a, Fp80 b, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        var kb = Unpack(b, out bool sb, out int eb, out ulong mb, ref c);
        if (ka == FpClass.Unsupported || kb == FpClass.Unsupported) return Invalid(ref c);
        if (IsNaN(ka) || IsNaN(kb)) return PropagateNaN(a, ka, b, kb, ref c);
        bool s = sa != sb;
        ushort sign = (ushort)(s ? 0x8000 : 0);
        if (ka == FpClass.Infinity || kb == FpClass.Infinity)
        {
            if (ka == FpClass.Zero || kb == FpClass.Zero) return Invalid(ref c);
            return new Fp80((ushort)(sign | 0x7FFF), IntegerBit);
        }
        if (ka == FpClass.Zero || kb == FpClass.Zero) return new Fp80(sign, 0);
        // (ma/2^63)(mb/2^63) = P / 2^126 = P / 2^127 * 2^1
        return Pack(s, ea + eb + 1, (UInt128)ma * mb, ref c);
    }

    public static Fp80 Divide(Fp80 a, Fp80 b, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        var kb = Unpack(b, out bool sb, out int eb, out ulong mb, ref c);
        if (ka == FpClass.Unsupported || kb == FpClass.Unsupported) return Invalid(ref c);
        if (IsNaN(ka) || IsNaN(kb)) return PropagateNaN(a, ka, b, kb, ref c);
        bool s = sa != sb;
        ushort sign = (ushort)(s ? 0x8000 : 0);
        if (ka == FpClass.Infinity)
            return kb == FpClass.Infinity ? Invalid(ref c) : new Fp80((ushort)(sign | 0x7FFF), IntegerBit);
        if (kb == FpClass.Infinity) return new Fp80(sign, 0);
        if (kb == FpClass.Zero)
        {
            if (ka == FpClass.Zero) return Invalid(ref c);
            c.Flags |= FpContext.ZE;
            return new Fp80((ushort)(sign | 0x7FFF), IntegerBit);
        }
        if (ka == FpClass.Zero) return new Fp80(sign, 0);
        // Long division in two 64-bit steps: a quotient of 128 bits with the remainder as sticky bit.
        int e;
        UInt128 n;
        if (ma < mb) { n = (UInt128)ma << 64; e = ea - eb - 1; }
        else { n = (UInt128)ma << 63; e = ea - eb; }
        UInt128 qHi = n / mb, rem = n % mb;
        UInt128 n2 = rem << 64;
        UInt128 qLo = n2 / mb;
        bool sticky = n2 % mb != 0;
        UInt128 q = (qHi << 64) | qLo | (sticky ? UInt128.One : UInt128.Zero);
        return Pack(s, e, q, ref c);
    }

    public static Fp80 Sqrt(Fp80 a, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        if (ka == FpClass.Unsupported) return Invalid(ref c);
        if (IsNaN(ka)) return PropagateNaN(a, ka, a, ka, ref c);
        if (ka == FpClass.Zero) return a;
        if (sa) return Invalid(ref c);
        if (ka == FpClass.Infinity) return a;
        // value = ma/2^63 * 2^ea. Even ea: N = ma << 63 (= m * 2^126); odd: N = ma << 64 (= 2m * 2^126).
        UInt128 n = (ea & 1) == 0 ? (UInt128)ma << 63 : (UInt128)ma << 64;
        ulong r = ISqrt(n);
        UInt128 rem = n - (UInt128)r * r;
        // Next bit: (r + 1/2)^2 <= N  <=>  rem > r (never equal, so a set round bit always has sticky too).
        bool round = rem > r;
        bool sticky = round || rem != 0;
        UInt128 q = ((UInt128)r << 64) | (round ? (UInt128)IntegerBit : 0) | (sticky ? UInt128.One : UInt128.Zero);
        return Pack(false, ea >> 1, q, ref c); // q / 2^127 = sqrt(m) or sqrt(2m)
    }

    /// <summary>Floor of the square root of a 128-bit integer (bit by bit).</summary>
    private static ulong ISqrt(UInt128 n)
    {
        UInt128 root = 0, rem = 0;
        for (int i = 0; i < 64; i++)
        {
            rem = (rem << 2) | (n >> 126);
            n <<= 2;
            root <<= 1;
            UInt128 trial = (root << 1) | 1;
            if (rem >= trial)
            {
                rem -= trial;
                root |= 1;
            }
        }
        return (ulong)root;
    }

    /// <summary>Round to an integral value in the extended format (frndint), with the context's rounding.</summary>
    public static Fp80 RoundToIntegral(Fp80 a, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        if (ka == FpClass.Unsupported) return Invalid(ref c);
        if (IsNaN(ka)) return PropagateNaN(a, ka, a, ka, ref c);
        if (ka != FpClass.Normal || ea >= 63) return a;
        ulong mag = RoundMagnitude(sa, ea, ma, c.Rounding, ref c, out _);
        if (mag == 0) return new Fp80((ushort)(sa ? 0x8000 : 0), 0);
        int lz = BitOperations.LeadingZeroCount(mag);
        return new Fp80((ushort)((sa ? 0x8000 : 0) | (63 - lz + Bias)), mag << lz);
    }

    /// <summary>Integer magnitude of a finite value with exp &lt; 63, rounded with <paramref name="rounding"/>
    /// (PE and C1 set as the rounding says). <paramref name="carry"/> reports a result of 2^64.</summary>
    private static ulong RoundMagnitude(bool sign, int exp, ulong sig, int rounding, ref FpContext c, out bool carry)
    {
        carry = false;
        // sig/2^63 * 2^exp: integer part is sig >> (63 - exp); fraction in the low bits.
        UInt128 v = ShiftRightJam((UInt128)sig << 64, 63 - exp);
        ulong whole = (ulong)(v >> 64), frac = (ulong)v;
        if (frac == 0) return whole;
        c.Flags |= FpContext.PE;
        bool up = rounding switch
        {
            0 => frac > IntegerBit || (frac == IntegerBit && (whole & 1) != 0),
            1 => sign,
            2 => !sign,
            _ => false,
        };
        if (up)
        {
            c.RoundedUp = true;
            whole++;
            carry = whole == 0;
        }
        return whole;
    }

    /// <summary>fist/fistp/fisttp: convert to a signed integer of <paramref name="bits"/> bits; NaN, infinity and
    /// out-of-range values give the integer indefinite (most negative value) and IE.</summary>
    public static long ToInteger(Fp80 a, int bits, bool truncate, ref FpContext c)
    {
        long indefinite = long.MinValue >> (64 - bits);
        ushort before = c.Flags;
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        c.Flags = (ushort)(c.Flags & ~FpContext.DE | (before & FpContext.DE)); // stores do not report DE
        if (ka == FpClass.Zero) return 0;
        if (ka != FpClass.Normal) { c.Flags |= FpContext.IE; return indefinite; }
        ulong mag;
        if (ea >= 63)
        {
            if (ea > 63) { c.Flags |= FpContext.IE; return indefinite; }
            mag = ma;
        }
        else
        {
            var probe = c;
            mag = RoundMagnitude(sa, ea, ma, truncate ? 3 : c.Rounding, ref probe, out bool carry);
            if (carry) { c.Flags |= FpContext.IE; return indefinite; }
            ulong limitCheck = sa ? 1UL << (bits - 1) : (1UL << (bits - 1)) - 1;
            if (mag > limitCheck) { c.Flags |= FpContext.IE; return indefinite; }
            c = probe;
            return sa ? -(long)mag : (long)mag;
        }
        ulong limit = sa ? 1UL << (bits - 1) : (1UL << (bits - 1)) - 1;
        if (mag > limit) { c.Flags |= FpContext.IE; return indefinite; }
        return sa ? (long)(0 - mag) : (long)mag;
    }

    /// <summary>fild: exact.</summary>
    public static Fp80 FromInteger(long v)
    {
        if (v == 0) return Fp80.Zero;
        bool s = v < 0;
        ulong mag = s ? 0 - (ulong)v : (ulong)v;
        int lz = BitOperations.LeadingZeroCount(mag);
        return new Fp80((ushort)((s ? 0x8000 : 0) | (63 - lz + Bias)), mag << lz);
    }

    // ---- binary32 / binary64 conversions -------------------------------------------------------------------

    /// <summary>Widen an IEEE binary32/binary64 value (exact). SNaNs signal IE and are quietened; denormals flag DE.</summary>
    public static Fp80 FromIeee(ulong bits, int fracBits, int expBits, ref FpContext c) => FromIeee(bits, fracBits, expBits, true, ref c);

    /// <summary>As above; with <paramref name="quietSignaling"/> false an SNaN stays signalling (an arithmetic
    /// operand: the operation signals and applies the SNaN-versus-QNaN rule).</summary>
    public static Fp80 FromIeee(ulong bits, int fracBits, int expBits, bool quietSignaling, ref FpContext c)
    {
        int bias = (1 << (expBits - 1)) - 1;
        bool s = (bits >> (fracBits + expBits)) != 0;
        int e = (int)((bits >> fracBits) & ((1UL << expBits) - 1));
        ulong frac = bits & ((1UL << fracBits) - 1);
        ushort sign = (ushort)(s ? 0x8000 : 0);
        if (e == (1 << expBits) - 1)
        {
            if (frac == 0) return new Fp80((ushort)(sign | 0x7FFF), IntegerBit);
            ulong m = IntegerBit | (frac << (63 - fracBits));
            if ((m & QuietBit) == 0 && quietSignaling) { c.Flags |= FpContext.IE; m |= QuietBit; }
            return new Fp80((ushort)(sign | 0x7FFF), m);
        }
        if (e == 0)
        {
            if (frac == 0) return new Fp80(sign, 0);
            c.Flags |= FpContext.DE;
            int lz = BitOperations.LeadingZeroCount(frac);
            // value = frac * 2^(1 - bias - fracBits); leading bit at position 63 - lz.
            int exp = (63 - lz) + 1 - bias - fracBits;
            return new Fp80((ushort)(sign | (exp + Bias)), frac << lz);
        }
        return new Fp80((ushort)(sign | (e - bias + Bias)), IntegerBit | (frac << (63 - fracBits)));
    }

    /// <summary>Narrow to binary32/binary64 with the context's rounding (fst/fstp; precision control does not
    /// apply to stores).</summary>
    public static ulong ToIeee(Fp80 a, int fracBits, int expBits, ref FpContext c)
    {
        int bias = (1 << (expBits - 1)) - 1;
        ulong expMax = (1UL << expBits) - 1;
        ushort before = c.Flags;
        var k = Unpack(a, out bool s, out int e, out ulong m, ref c);
        c.Flags = (ushort)(c.Flags & ~FpContext.DE | (before & FpContext.DE)); // stores do not report DE
        ulong sign = s ? 1UL << (fracBits + expBits) : 0;
        switch (k)
        {
            case FpClass.Zero: return sign;
            case FpClass.Infinity: return sign | (expMax << fracBits);
            case FpClass.Unsupported:
                c.Flags |= FpContext.IE;
                return (1UL << (fracBits + expBits)) | (expMax << fracBits) | (1UL << (fracBits - 1));
            case FpClass.QuietNaN:
            case FpClass.SignalingNaN:
                if (k == FpClass.SignalingNaN) c.Flags |= FpContext.IE;
                return sign | (expMax << fracBits) | ((m << 1) >> (64 - fracBits)) | (1UL << (fracBits - 1));
        }
        UInt128 sig = (UInt128)m << 64;
        int exp = e;
        if (!Round(s, ref exp, ref sig, fracBits + 1, 1 - bias, bias, ref c))
        {
            if (OverflowToInfinity(s, ref c)) return sign | (expMax << fracBits);
            return sign | ((expMax - 1) << fracBits) | ((1UL << fracBits) - 1);
        }
        ulong top = (ulong)(sig >> (127 - fracBits)); // integer bit at fracBits
        if ((top >> fracBits) == 0) return sign | top; // denormal or zero
        return sign | ((ulong)(exp + bias) << fracBits) | (top & ((1UL << fracBits) - 1));
    }

    // ---- comparison --------------------------------------------------------------------------------------

    /// <summary>Compare: -1 less, 0 equal, 1 greater, 2 unordered. <paramref name="quiet"/> (fucom*) signals IE only
    /// for SNaNs; the ordered forms (fcom*, fcomi) for any NaN. Unsupported encodings are unordered and invalid.</summary>
    public static int Compare(Fp80 a, Fp80 b, bool quiet, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        var kb = Unpack(b, out bool sb, out int eb, out ulong mb, ref c);
        if (ka == FpClass.Unsupported || kb == FpClass.Unsupported) { c.Flags |= FpContext.IE; return 2; }
        if (IsNaN(ka) || IsNaN(kb))
        {
            if (!quiet || ka == FpClass.SignalingNaN || kb == FpClass.SignalingNaN) c.Flags |= FpContext.IE;
            return 2;
        }
        if (ka == FpClass.Zero && kb == FpClass.Zero) return 0;
        if (sa != sb) return sa ? -1 : 1;
        // Same sign: compare magnitudes (zero < finite < infinity).
        int mag = CompareMagnitude(ka, ea, ma, kb, eb, mb);
        return sa ? -mag : mag;
    }

    private static int CompareMagnitude(FpClass ka, int ea, ulong ma, FpClass kb, int eb, ulong mb)
    {
        int ra = ka == FpClass.Zero ? 0 : ka == FpClass.Infinity ? 2 : 1;
        int rb = kb == FpClass.Zero ? 0 : kb == FpClass.Infinity ? 2 : 1;
        if (ra != rb) return ra < rb ? -1 : 1;
        if (ra != 1) return 0;
        if (ea != eb) return ea < eb ? -1 : 1;
        return ma == mb ? 0 : ma < mb ? -1 : 1;
    }

    /// <summary>fscale: ST0 * 2^trunc(ST1).</summary>
    public static Fp80 Scale(Fp80 a, Fp80 b, ref FpContext c)
    {
        var ka = Unpack(a, out bool sa, out int ea, out ulong ma, ref c);
        var kb = Unpack(b, out bool sb, out int eb, out ulong mb, ref c);
        if (ka == FpClass.Unsupported || kb == FpClass.Unsupported) return Invalid(ref c);
        if (IsNaN(ka) || IsNaN(kb)) return PropagateNaN(a, ka, b, kb, ref c);
        if (kb == FpClass.Infinity)
        {
            if (sb) return ka == FpClass.Infinity ? Invalid(ref c) : new Fp80((ushort)(sa ? 0x8000 : 0), 0);
            return ka == FpClass.Zero ? Invalid(ref c) : new Fp80((ushort)(sa ? 0xFFFF : 0x7FFF), IntegerBit);
        }
        if (ka != FpClass.Normal) return a;
        long n = 0;
        if (kb == FpClass.Normal && eb >= 0) n = eb > 20 ? 1 << 20 : (long)(mb >> (63 - eb));
        if (sb) n = -n;
        return Pack(sa, (int)Math.Clamp(ea + n, -(1 << 20), 1 << 20), ma, ref c);
    }

    /// <summary>fxam classes in C3:C2:C0 (SDM vol. 2, FXAM) for a non-empty register.</summary>
    public static int Examine(Fp80 a)
    {
        int e = a.Exponent;
        ulong m = a.Mant;
        if (e == 0x7FFF)
        {
            if ((m & IntegerBit) == 0) return 0b000;
            return (m << 1) == 0 ? 0b011 : 0b001;
        }
        if (e == 0) return m == 0 ? 0b100 : 0b110;
        return (m & IntegerBit) == 0 ? 0b000 : 0b010;
    }
}
