using System.Numerics;
using System.Runtime.CompilerServices;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>Multi-step integer operations: read-modify-write (locked or not), multiply, divide, compare-exchange,
/// bit tests.</summary>
public sealed unsafe partial class EmulatedVcpu
{

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void BinaryAlu(ref DecodedInstruction d)
    {
        int size = d.Size;
        if (d.Kind0 == OperandKind.Register)
        {
            ulong b = Source1(ref d, size);
            ulong r = LazyBinary(d.Op, GetReg(d.Reg0, size), b, size);
            if (d.Op != Op.Cmp && d.Op != Op.Test) SetReg(d.Reg0, size, r);
            return;
        }
        ulong src = d.Kind1 == OperandKind.Immediate ? d.Immediate : GetReg(d.Reg1, size);
        ulong ea = Ea(ref d);
        if (d.Op == Op.Cmp || d.Op == Op.Test)
        {
            LazyBinary(d.Op, Read(ea, size), src, size);
            return;
        }
        ReadModifyWrite(ref d, ea, size, src);
    }

    /// <summary>The new value of a read-modify-write memory operand; flags into <paramref name="f"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Modify(Op op, ulong old, ulong src, int size, ref ulong f) => op switch
    {
        Op.Inc or Op.Dec or Op.Neg or Op.Not => Alu.Unary(op, old, size, ref f),
        Op.Xchg => src,
        Op.Xadd => Alu.Add(old, src, 0, size, ref f),
        Op.Bts => old | src,
        Op.Btr => old & ~src,
        Op.Btc => old ^ src,
        _ => Alu.Binary(op, old, src, size, ref f),
    };

    /// <summary>
    /// Read-modify-write of a memory operand, atomically (host compare-and-swap) when the instruction has a lock
    /// prefix or is xchg, so spinlocks work between vCPUs on different host threads. Returns the old value.
    /// Flags are committed after the store.
    /// </summary>
    private ulong ReadModifyWrite(ref DecodedInstruction d, ulong ea, int size, ulong src)
    {
        ulong f, old;
        if (d.Lock || d.Op == Op.Xchg)
        {
            byte* p = AtomicPointer(ea, size);
            if (p != null)
            {
                ulong r;
                old = LoadHost(p, size);
                while (true)
                {
                    f = _flags;
                    r = Modify(d.Op, old, src, size, ref f);
                    ulong seen = CompareExchangeHost(p, size, r, old);
                    if (seen == old) break;
                    old = seen;
                }
                NoteStore(p);
                _flags = f;
                return old;
            }
        }
        // A read-modify-write faults as a write (W = 1 in the #PF error code) even on a not-present page.
        ProbeWritable(ea, size);
        old = Read(ea, size);
        f = _flags;
        Write(ea, size, Modify(d.Op, old, src, size, ref f));
        _flags = f;
        return old;
    }

    private void Multiply(ref DecodedInstruction d, bool signed)
    {
        int size = d.Size;
        ulong src = Source0(ref d, size);
        ulong a = _r[Rax] & Alu.Mask(size);
        ulong lo, hi;
        bool overflow;
        if (size == 8)
        {
            if (signed)
            {
                long h = Math.BigMul((long)a, (long)src, out long l);
                lo = (ulong)l; hi = (ulong)h;
                overflow = h != (l >> 63);
            }
            else
            {
                hi = Math.BigMul(a, src, out lo);
                overflow = hi != 0;
            }
        }
        else
        {
            int bits = size * 8;
            ulong m = Alu.Mask(size);
            ulong product = signed
                ? (ulong)((long)Alu.SignExtend(a, size) * (long)Alu.SignExtend(src, size))
                : a * src;
            lo = product & m;
            hi = (product >> bits) & m;
            overflow = signed ? (long)product != (long)Alu.SignExtend(lo, size) : hi != 0;
        }
        switch (size)
        {
            case 1: SetReg(Rax, 2, (hi << 8) | lo); break;
            default: SetReg(Rax, size, lo); SetReg(Rdx, size, hi); break;
        }
        SetMultiplyFlags(overflow, lo, size);
    }

    /// <summary>CF = OF = significant bits lost; SF/ZF/PF from the low half, AF cleared (undefined in the SDM).</summary>
    private void SetMultiplyFlags(bool overflow, ulong lo, int size) =>
        _flags = (_flags & ~Flags.Status) | (overflow ? Flags.CF | Flags.OF : 0) | Alu.Szp(lo & Alu.Mask(size), size);

    /// <summary>imul r, r/m and imul r, r/m, imm: the product truncated to the operand size.</summary>
    private void ImulTruncating(ref DecodedInstruction d)
    {
        int size = d.Size;
        long a, b;
        if (d.OperandCount3)
        {
            a = (long)Alu.SignExtend(Source1(ref d, size), size);
            b = (long)Alu.SignExtend(d.Immediate, size);
        }
        else
        {
            a = (long)Alu.SignExtend(GetReg(d.Reg0, size), size);
            b = (long)Alu.SignExtend(Source1(ref d, size), size);
        }
        ulong lo;
        bool overflow;
        if (size == 8)
        {
            long h = Math.BigMul(a, b, out long l);
            lo = (ulong)l;
            overflow = h != (l >> 63);
        }
        else
        {
            long p = a * b;
            lo = (ulong)p & Alu.Mask(size);
            overflow = p != (long)Alu.SignExtend(lo, size);
        }
        SetReg(d.Reg0, size, lo);
        SetMultiplyFlags(overflow, lo, size);
    }

    private void DivideUnsigned(ref DecodedInstruction d)
    {
        int size = d.Size;
        ulong divisor = Source0(ref d, size);
        if (divisor == 0) RaiseFault(ExceptionVector.DivideError, 0, false);
        if (size == 8)
        {
            UInt128 dividend = ((UInt128)_r[Rdx] << 64) | _r[Rax];
            UInt128 q = dividend / divisor;
            if (q > ulong.MaxValue) RaiseFault(ExceptionVector.DivideError, 0, false);
            _r[Rax] = (ulong)q;
            _r[Rdx] = (ulong)(dividend % divisor);
            return;
        }
        int bits = size * 8;
        ulong m = Alu.Mask(size);
        ulong dv = size == 1 ? _r[Rax] & 0xFFFF : ((_r[Rdx] & m) << bits) | (_r[Rax] & m);
        ulong quotient = dv / divisor;
        if (quotient > m) RaiseFault(ExceptionVector.DivideError, 0, false);
        ulong rem = dv % divisor;
        if (size == 1) SetReg(Rax, 2, (rem << 8) | quotient);
        else { SetReg(Rax, size, quotient); SetReg(Rdx, size, rem); }
    }

    private void DivideSigned(ref DecodedInstruction d)
    {
        int size = d.Size;
        long divisor = (long)Alu.SignExtend(Source0(ref d, size), size);
        if (divisor == 0) RaiseFault(ExceptionVector.DivideError, 0, false);
        Int128 dividend;
        if (size == 8) dividend = (Int128)(((UInt128)_r[Rdx] << 64) | _r[Rax]);
        else if (size == 1) dividend = (short)_r[Rax];
        else
        {
            int bits = size * 8;
            ulong m = Alu.Mask(size);
            dividend = (long)Alu.SignExtend(((_r[Rdx] & m) << bits) | (_r[Rax] & m), size * 2);
        }
        Int128 q, rem;
        if (divisor == -1)
        {
            if (dividend == Int128.MinValue) RaiseFault(ExceptionVector.DivideError, 0, false);
            q = -dividend;
            rem = 0;
        }
        else
        {
            q = dividend / divisor;
            rem = dividend % divisor;
        }
        long min = size == 8 ? long.MinValue : -(1L << (size * 8 - 1));
        long max = size == 8 ? long.MaxValue : (1L << (size * 8 - 1)) - 1;
        if (q < min || q > max) RaiseFault(ExceptionVector.DivideError, 0, false);
        ulong m2 = Alu.Mask(size);
        if (size == 1) SetReg(Rax, 2, (((ulong)(long)rem & 0xFF) << 8) | ((ulong)(long)q & 0xFF));
        else { SetReg(Rax, size, (ulong)(long)q & m2); SetReg(Rdx, size, (ulong)(long)rem & m2); }
    }

    private void CompareExchange(ref DecodedInstruction d)
    {
        int size = d.Size;
        ulong acc = GetReg(Rax, size);
        ulong src = GetReg(d.Reg1, size);
        ulong f = _flags;
        if (d.Kind0 == OperandKind.Register)
        {
            ulong cur = GetReg(d.Reg0, size);
            Alu.Sub(acc, cur, 0, size, ref f);
            if (cur == acc) SetReg(d.Reg0, size, src);
            else SetReg(Rax, size, cur);
            _flags = f;
            return;
        }
        ulong ea = Ea(ref d);
        byte* p = AtomicPointer(ea, size); // needs write access even when the comparison fails
        ulong old;
        if (p != null)
        {
            old = CompareExchangeHost(p, size, src, acc);
            if (old == acc) NoteStore(p);
        }
        else
        {
            old = Read(ea, size);
            if (old == acc) Write(ea, size, src);
        }
        Alu.Sub(acc, old, 0, size, ref f);
        if (old != acc) SetReg(Rax, size, old);
        _flags = f;
    }

    private void CompareExchange8b(ref DecodedInstruction d)
    {
        ulong ea = Ea(ref d);
        ulong expected = ((_r[Rdx] & 0xFFFF_FFFF) << 32) | (_r[Rax] & 0xFFFF_FFFF);
        ulong desired = ((_r[Rcx] & 0xFFFF_FFFF) << 32) | (_r[Rbx] & 0xFFFF_FFFF);
        byte* p = AtomicPointer(ea, 8);
        ulong old;
        if (p != null)
        {
            old = CompareExchangeHost(p, 8, desired, expected);
            if (old == expected) NoteStore(p);
        }
        else
        {
            old = Read(ea, 8);
            if (old == expected) Write(ea, 8, desired);
        }
        if (old == expected) _flags |= Flags.ZF;
        else
        {
            _r[Rax] = (uint)old;
            _r[Rdx] = old >> 32;
            _flags &= ~Flags.ZF;
        }
    }

    /// <summary>Serialises cmpxchg16b between vCPUs: the host has no portable 128-bit compare-and-swap.</summary>
    private static readonly Lock Cmpxchg16bLock = new();

    private void CompareExchange16b(ref DecodedInstruction d)
    {
        ulong ea = Ea(ref d);
        if ((ea & 15) != 0) RaiseGp0(); // the operand must be 16-byte aligned (SDM vol. 2, CMPXCHG16B)
        AtomicPointer(ea, 16);
        lock (Cmpxchg16bLock)
        {
            ulong lo = Read(ea, 8), hi = Read(ea + 8, 8);
            if (lo == _r[Rax] && hi == _r[Rdx])
            {
                Write(ea, 8, _r[Rbx]);
                Write(ea + 8, 8, _r[Rcx]);
                _flags |= Flags.ZF;
            }
            else
            {
                _r[Rax] = lo;
                _r[Rdx] = hi;
                _flags &= ~Flags.ZF;
            }
        }
    }

    /// <summary>bt/bts/btr/btc (SDM vol. 2, BT): with a register bit offset and a memory operand the offset is
    /// signed and selects any bit relative to the address. CF = the bit; other flags unchanged.</summary>
    private void BitTest(ref DecodedInstruction d)
    {
        int size = d.Size, bits = size * 8;
        ulong offset = d.Kind1 == OperandKind.Immediate ? d.Immediate : GetReg(d.Reg1, size);
        if (d.Kind0 == OperandKind.Register)
        {
            int bit = (int)(offset & (ulong)(bits - 1));
            ulong v = GetReg(d.Reg0, size);
            ulong mask = 1UL << bit;
            _flags = (_flags & ~Flags.CF) | ((v >> bit) & 1);
            if (d.Op == Op.Bts) SetReg(d.Reg0, size, v | mask);
            else if (d.Op == Op.Btr) SetReg(d.Reg0, size, v & ~mask);
            else if (d.Op == Op.Btc) SetReg(d.Reg0, size, v ^ mask);
            return;
        }
        ulong ea = Ea(ref d);
        if (d.Kind1 == OperandKind.Register)
        {
            long signed = (long)Alu.SignExtend(offset, size);
            ea += (ulong)((signed >> BitOperations.Log2((uint)bits)) * size);
        }
        int b = (int)(offset & (ulong)(bits - 1));
        ulong bitMask = 1UL << b;
        if (d.Op == Op.Bt)
        {
            _flags = (_flags & ~Flags.CF) | ((Read(ea, size) >> b) & 1);
            return;
        }
        ulong old = ReadModifyWrite(ref d, ea, size, bitMask);
        _flags = (_flags & ~Flags.CF) | ((old >> b) & 1);
    }
}
