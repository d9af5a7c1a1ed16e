using System.Numerics;
using System.Runtime.CompilerServices;

namespace Paravirt.Cpu.Emulated;

/// <summary>RFLAGS bits (Intel SDM vol. 1, 3.4.3).</summary>
internal static class Flags
{
    public const ulong CF = 1 << 0, Fixed1 = 1 << 1, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8,
        IF = 1 << 9, DF = 1 << 10, OF = 1 << 11, IOPL = 3 << 12, NT = 1 << 14, RF = 1 << 16, VM = 1 << 17,
        AC = 1 << 18, VIF = 1 << 19, VIP = 1 << 20, ID = 1 << 21;

    /// <summary>The six arithmetic status flags.</summary>
    public const ulong Status = CF | PF | AF | ZF | SF | OF;

    /// <summary>x86 condition codes 0..15 (o no b ae e ne be a s ns p np l ge le g; SDM vol. 1, B.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Condition(int cc, ulong f)
    {
        bool r = (cc >> 1) switch
        {
            0 => (f & OF) != 0,
            1 => (f & CF) != 0,
            2 => (f & ZF) != 0,
            3 => (f & (CF | ZF)) != 0,
            4 => (f & SF) != 0,
            5 => (f & PF) != 0,
            6 => ((f & SF) != 0) != ((f & OF) != 0),
            _ => (f & ZF) != 0 || (((f & SF) != 0) != ((f & OF) != 0)),
        };
        return r ^ ((cc & 1) != 0);
    }
}

/// <summary>
/// Integer ALU with exact status flags (Intel SDM vol. 2 per instruction, vol. 1 appendix A). Inputs need not be
/// masked; results are masked to the operand size. Flags the SDM calls undefined are given the values current
/// Intel parts produce where that is well known, and otherwise left as computed here; tests pin defined flags.
/// </summary>
internal static class Alu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size << 3)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SignShift(int size) => (size << 3) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SignExtend(ulong v, int size) => size switch
    {
        1 => (ulong)(sbyte)v,
        2 => (ulong)(short)v,
        4 => (ulong)(int)v,
        _ => v,
    };

    /// <summary>SF, ZF and PF of a masked result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Szp(ulong r, int size)
    {
        ulong f = ((r >> SignShift(size)) & 1) << 7;
        if (r == 0) f |= Flags.ZF;
        // PF: even number of set bits in the low byte.
        if ((BitOperations.PopCount(r & 0xFF) & 1) == 0) f |= Flags.PF;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(ulong a, ulong b, ulong carryIn, int size, ref ulong flags)
    {
        ulong m = Mask(size);
        a &= m; b &= m;
        ulong r = (a + b + carryIn) & m;
        ulong cf = (carryIn == 0 ? r < a : r <= a) ? Flags.CF : 0;
        ulong of = ((((a ^ r) & (b ^ r)) >> SignShift(size)) & 1) << 11;
        flags = (flags & ~Flags.Status) | cf | of | ((a ^ b ^ r) & Flags.AF) | Szp(r, size);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sub(ulong a, ulong b, ulong borrowIn, int size, ref ulong flags)
    {
        ulong m = Mask(size);
        a &= m; b &= m;
        ulong r = (a - b - borrowIn) & m;
        ulong cf = (borrowIn == 0 ? a < b : a <= b) ? Flags.CF : 0;
        ulong of = ((((a ^ b) & (a ^ r)) >> SignShift(size)) & 1) << 11;
        flags = (flags & ~Flags.Status) | cf | of | ((a ^ b ^ r) & Flags.AF) | Szp(r, size);
        return r;
    }

    /// <summary>AND/OR/XOR/TEST result flags: CF = OF = 0, AF cleared (undefined in the SDM; 0 on Intel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Logic(ulong r, int size, ref ulong flags)
    {
        r &= Mask(size);
        flags = (flags & ~Flags.Status) | Szp(r, size);
        return r;
    }

    /// <summary>The binary ALU ops (add or adc sbb and sub xor cmp test); CF is read for adc/sbb.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Binary(Op op, ulong a, ulong b, int size, ref ulong flags)
    {
        switch (op)
        {
            case Op.Add: return Add(a, b, 0, size, ref flags);
            case Op.Adc: return Add(a, b, flags & Flags.CF, size, ref flags);
            case Op.Sub: case Op.Cmp: return Sub(a, b, 0, size, ref flags);
            case Op.Sbb: return Sub(a, b, flags & Flags.CF, size, ref flags);
            case Op.And: case Op.Test: return Logic(a & b, size, ref flags);
            case Op.Or: return Logic(a | b, size, ref flags);
            default: return Logic(a ^ b, size, ref flags); // Xor
        }
    }

    /// <summary>inc/dec/neg/not. inc and dec leave CF alone; not changes no flags.</summary>
    public static ulong Unary(Op op, ulong a, int size, ref ulong flags)
    {
        ulong m = Mask(size);
        a &= m;
        ulong sign = 1UL << SignShift(size);
        ulong r;
        switch (op)
        {
            case Op.Inc:
                r = (a + 1) & m;
                flags = (flags & ~(Flags.Status & ~Flags.CF)) | (r == sign ? Flags.OF : 0) | ((a ^ r) & Flags.AF) | Szp(r, size);
                return r;
            case Op.Dec:
                r = (a - 1) & m;
                flags = (flags & ~(Flags.Status & ~Flags.CF)) | (a == sign ? Flags.OF : 0) | ((a ^ r) & Flags.AF) | Szp(r, size);
                return r;
            case Op.Neg:
                r = (0 - a) & m;
                flags = (flags & ~Flags.Status) | (a != 0 ? Flags.CF : 0) | (a == sign ? Flags.OF : 0)
                        | ((a ^ r) & Flags.AF) | Szp(r, size);
                return r;
            default:
                return ~a & m; // Not
        }
    }

    /// <summary>
    /// shl/shr/sar/rol/ror/rcl/rcr (SDM vol. 2, "SAL/SAR/SHL/SHR" and "RCL/RCR/ROL/ROR"). The count is masked to
    /// 5 bits (6 for 64-bit operands); a masked count of 0 changes nothing, flags included. OF is defined for a
    /// count of 1 and computed with the same formula for larger counts.
    /// </summary>
    public static ulong Shift(Op op, ulong a, ulong count, int size, ref ulong flags)
    {
        int bits = size << 3;
        ulong m = Mask(size);
        a &= m;
        int c = (int)(count & (size == 8 ? 0x3FUL : 0x1FUL));
        if (c == 0) return a;
        ulong sign = 1UL << (bits - 1);
        ulong r, cf;
        ulong f = flags;
        switch (op)
        {
            case Op.Shl:
                if (c < bits) { r = (a << c) & m; cf = (a >> (bits - c)) & 1; }
                else { r = 0; cf = c == bits ? a & 1 : 0; }
                f = (f & ~Flags.Status) | cf | Szp(r, size) | ((((r & sign) != 0 ? 1UL : 0) ^ cf) << 11);
                return Commit(ref flags, f, r);
            case Op.Shr:
                if (c < bits) { r = a >> c; cf = (a >> (c - 1)) & 1; }
                else { r = 0; cf = c == bits ? (a >> (bits - 1)) & 1 : 0; }
                f = (f & ~Flags.Status) | cf | Szp(r, size) | ((a & sign) != 0 ? Flags.OF : 0);
                return Commit(ref flags, f, r);
            case Op.Sar:
            {
                long sa = (long)SignExtend(a, size);
                r = (ulong)(sa >> Math.Min(c, 63)) & m;
                cf = (ulong)(sa >> Math.Min(c - 1, 63)) & 1;
                f = (f & ~Flags.Status) | cf | Szp(r, size); // OF = 0
                return Commit(ref flags, f, r);
            }
            case Op.Rol:
            {
                int k = c & (bits - 1);
                r = k == 0 ? a : ((a << k) | (a >> (bits - k))) & m;
                cf = r & 1;
                f = (f & ~(Flags.CF | Flags.OF)) | cf | ((((r >> (bits - 1)) & 1) ^ cf) << 11);
                return Commit(ref flags, f, r);
            }
            case Op.Ror:
            {
                int k = c & (bits - 1);
                r = k == 0 ? a : ((a >> k) | (a << (bits - k))) & m;
                cf = (r >> (bits - 1)) & 1;
                f = (f & ~(Flags.CF | Flags.OF)) | cf | ((cf ^ ((r >> (bits - 2)) & 1)) << 11);
                return Commit(ref flags, f, r);
            }
            case Op.Rcl:
            case Op.Rcr:
            {
                // Rotate through CF: a (bits + 1)-bit rotation; 8/16-bit counts reduce modulo 9/17.
                int k = size <= 2 ? c % (bits + 1) : c;
                ulong carry = flags & Flags.CF;
                r = a;
                for (int n = 0; n < k; n++)
                {
                    if (op == Op.Rcl)
                    {
                        ulong outBit = (r >> (bits - 1)) & 1;
                        r = ((r << 1) | carry) & m;
                        carry = outBit;
                    }
                    else
                    {
                        ulong outBit = r & 1;
                        r = (r >> 1) | (carry << (bits - 1));
                        carry = outBit;
                    }
                }
                ulong of = op == Op.Rcl
                    ? ((r >> (bits - 1)) & 1) ^ carry
                    : ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1;
                f = (f & ~(Flags.CF | Flags.OF)) | carry | (of << 11);
                return Commit(ref flags, f, r);
            }
            default:
                throw new InvalidOperationException($"not a shift: {op}");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Commit(ref ulong flags, ulong f, ulong r)
    {
        flags = f;
        return r;
    }

    /// <summary>
    /// shld/shrd (SDM vol. 2): count masked to 5/6 bits, 0 changes nothing. CF is the last bit shifted out of the
    /// destination; OF (count 1) is set when the sign changed. Counts above the operand size (16-bit only) are
    /// undefined in the SDM; we shift through the 32-bit concatenation as Intel parts do.
    /// </summary>
    public static ulong DoubleShift(bool left, ulong dst, ulong src, ulong count, int size, ref ulong flags)
    {
        int bits = size << 3;
        ulong m = Mask(size);
        dst &= m; src &= m;
        int c = (int)(count & (size == 8 ? 0x3FUL : 0x1FUL));
        if (c == 0) return dst;
        ulong r, cf;
        if (size == 8)
        {
            if (left) { r = (dst << c) | (src >> (64 - c)); cf = (dst >> (64 - c)) & 1; }
            else { r = (dst >> c) | (src << (64 - c)); cf = (dst >> (c - 1)) & 1; }
        }
        else if (size == 4)
        {
            if (left) { r = ((dst << c) | (src >> (32 - c))) & m; cf = (dst >> (32 - c)) & 1; }
            else { r = ((dst >> c) | (src << (32 - c))) & m; cf = (dst >> (c - 1)) & 1; }
        }
        else
        {
            // 16-bit: shift the 32-bit concatenation dst:src (left) or src:dst (right).
            if (left)
            {
                ulong shifted = ((dst << 16) | src) << c;
                r = (shifted >> 16) & m;
                cf = (shifted >> 32) & 1;
            }
            else
            {
                ulong wide = (src << 16) | dst;
                r = (wide >> c) & m;
                cf = (wide >> (c - 1)) & 1;
            }
        }
        ulong of = ((r ^ dst) >> (bits - 1)) & 1;
        flags = (flags & ~Flags.Status) | cf | Szp(r, size) | (of << 11);
        return r;
    }
}
