using System.Numerics;
using System.Runtime.CompilerServices;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// Lazy arithmetic flags. The commonest flag producers (add/sub/cmp and and/or/xor/test with a register
/// destination or a memory cmp/test) record their masked operands and result instead of computing OF/SF/ZF/AF/PF/CF;
/// jcc/setcc/cmovcc evaluate their condition from the record, and every other reader goes through
/// <see cref="_flags"/>, which materialises the six status flags with the same <see cref="Alu"/> code the eager
/// path uses, so the architectural result is identical.
/// </summary>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>What the lazy record holds. <see cref="LazyKind.Rotated"/> is any record followed by rol/ror:
    /// SF/ZF/PF still from <see cref="_lazyR"/>, AF pinned in <see cref="_eflags"/>, CF and OF from the rotate in
    /// <see cref="_lazyA"/> and <see cref="_lazyB"/> (0 or 1).</summary>
    private enum LazyKind : byte { None = 0, Add, Sub, Logic, Inc, Dec, Rotated }

    /// <summary>RFLAGS; its six status bits are stale while <see cref="_lazy"/> is not None (the others never are).</summary>
    private ulong _eflags;
    private LazyKind _lazy;
    private byte _lazySize;
    private ulong _lazyA, _lazyB, _lazyR;

    /// <summary>RFLAGS with the status flags materialised; writing it drops any pending lazy record.</summary>
#pragma warning disable IDE1006 // a property named like the field it replaced keeps every reader correct by construction
    private ulong _flags
#pragma warning restore IDE1006
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (_lazy != LazyKind.None) Materialize();
            return _eflags;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set
        {
            _eflags = value;
            _lazy = LazyKind.None;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Materialize()
    {
        ulong f = _eflags;
        switch (_lazy)
        {
            case LazyKind.Add: Alu.Add(_lazyA, _lazyB, 0, _lazySize, ref f); break;
            case LazyKind.Sub: Alu.Sub(_lazyA, _lazyB, 0, _lazySize, ref f); break;
            case LazyKind.Inc: Alu.Unary(Op.Inc, _lazyA, _lazySize, ref f); break; // CF was kept in _eflags
            case LazyKind.Dec: Alu.Unary(Op.Dec, _lazyA, _lazySize, ref f); break;
            case LazyKind.Rotated:
                f = (f & ~(Flags.Status & ~Flags.AF)) | Alu.Szp(_lazyR, _lazySize) | _lazyA | (_lazyB << 11);
                break;
            default: Alu.Logic(_lazyR, _lazySize, ref f); break;
        }
        _eflags = f;
        _lazy = LazyKind.None;
    }

    /// <summary>
    /// add/sub/cmp/and/or/xor/test of two values with lazy flags; returns the masked result. Other ops
    /// (adc/sbb read CF) go through the eager <see cref="Alu.Binary"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong LazyBinary(Op op, ulong a, ulong b, int size)
    {
        ulong m = Alu.Mask(size);
        a &= m;
        b &= m;
        ulong r;
        LazyKind kind;
        switch (op)
        {
            case Op.Add: r = (a + b) & m; kind = LazyKind.Add; break;
            case Op.Sub: case Op.Cmp: r = (a - b) & m; kind = LazyKind.Sub; break;
            case Op.And: case Op.Test: r = a & b; kind = LazyKind.Logic; break;
            case Op.Or: r = a | b; kind = LazyKind.Logic; break;
            case Op.Xor: r = a ^ b; kind = LazyKind.Logic; break;
            default:
            {
                ulong f = _flags;
                r = Alu.Binary(op, a, b, size, ref f);
                _flags = f;
                return r;
            }
        }
        _lazyA = a;
        _lazyB = b;
        _lazyR = r;
        _lazySize = (byte)size;
        _lazy = kind;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetLazy(LazyKind kind, ulong a, ulong b, ulong r, int size)
    {
        _lazyA = a;
        _lazyB = b;
        _lazyR = r;
        _lazySize = (byte)size;
        _lazy = kind;
    }

    /// <summary>inc/dec leave CF alone: pin the current CF into <see cref="_eflags"/> before recording them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void KeepCarry()
    {
        switch (_lazy)
        {
            case LazyKind.Add: _eflags = (_eflags & ~Flags.CF) | (_lazyR < _lazyA ? Flags.CF : 0); break;
            case LazyKind.Sub: _eflags = (_eflags & ~Flags.CF) | (_lazyA < _lazyB ? Flags.CF : 0); break;
            case LazyKind.Logic: _eflags &= ~Flags.CF; break;
            case LazyKind.Rotated: _eflags = (_eflags & ~Flags.CF) | _lazyA; break;
        }
    }

    /// <summary>
    /// rol/ror by a nonzero count: CF and OF from the rotate (<paramref name="cf"/>, <paramref name="of"/> are 0 or
    /// 1), SF/ZF/AF/PF unchanged. A pending record keeps supplying SF/ZF/PF (hashes mix add/xor/and with rotates);
    /// only its AF is pinned, so nothing is materialised.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetRotateFlags(ulong cf, ulong of)
    {
        switch (_lazy)
        {
            case LazyKind.None:
                _eflags = (_eflags & ~(Flags.CF | Flags.OF)) | cf | (of << 11);
                return;
            case LazyKind.Add: case LazyKind.Sub: case LazyKind.Inc: case LazyKind.Dec:
                // The same AF formula for all four (inc/dec: b = 1 does not reach bit 4).
                _eflags = (_eflags & ~Flags.AF) | ((_lazyA ^ _lazyB ^ _lazyR) & Flags.AF);
                break;
            case LazyKind.Logic:
                _eflags &= ~Flags.AF;
                break;
        }
        _lazyA = cf;
        _lazyB = of;
        _lazy = LazyKind.Rotated;
    }

    /// <summary>x86 condition <paramref name="cc"/> (0 o .. 15 g) of the current flags, without materialising them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Condition(int cc) => _lazy == LazyKind.None ? Flags.Condition(cc, _eflags) : LazyCondition(cc);

    private bool LazyCondition(int cc)
    {
        ulong a = _lazyA, b = _lazyB, r = _lazyR;
        int sign = Alu.SignShift(_lazySize);
        bool cf, of;
        switch (_lazy)
        {
            case LazyKind.Add:
                cf = r < a;
                of = ((((a ^ r) & (b ^ r)) >> sign) & 1) != 0;
                break;
            case LazyKind.Sub:
                cf = a < b;
                of = ((((a ^ b) & (a ^ r)) >> sign) & 1) != 0;
                break;
            case LazyKind.Inc:
                cf = (_eflags & Flags.CF) != 0;
                of = r == 1UL << sign;
                break;
            case LazyKind.Dec:
                cf = (_eflags & Flags.CF) != 0;
                of = a == 1UL << sign;
                break;
            case LazyKind.Rotated:
                cf = a != 0;
                of = b != 0;
                break;
            default:
                cf = of = false;
                break;
        }
        bool zf = r == 0, sf = ((r >> sign) & 1) != 0;
        bool result = (cc >> 1) switch
        {
            0 => of,
            1 => cf,
            2 => zf,
            3 => cf || zf,
            4 => sf,
            5 => (BitOperations.PopCount(r & 0xFF) & 1) == 0,
            6 => sf != of,
            _ => zf || sf != of,
        };
        return result ^ ((cc & 1) != 0);
    }
}
