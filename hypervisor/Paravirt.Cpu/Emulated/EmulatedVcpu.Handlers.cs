using System.Runtime.CompilerServices;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// Threaded dispatch: every decoded instruction carries a handler chosen once, at decode time, by
/// <see cref="SelectHandler"/>. The executor calls it through a function pointer, so the commonest forms (register
/// and immediate operands, flat memory operands, direct branches, push/pop/call/ret) run a few lines of straight
/// code with no switch on the operation, the operand kinds or the size. Everything else goes through
/// <see cref="Generic"/>, i.e. the <see cref="Execute"/> switch, unchanged.
/// </summary>
/// <remarks>
/// Handler contract: return true to go on with the next instruction of the block; return false to leave the block,
/// either to exit (<see cref="_exiting"/> set, <see cref="_exit"/> filled) or because the instruction stored into
/// the code being executed or otherwise asked to end the block (<see cref="_endBlock"/>). A handler that may store
/// returns <c>!_endBlock</c>. Faults are raised as before (<see cref="GuestFault"/>), after no state has changed.
/// Memory handlers are chosen only for <see cref="DecodedInstruction.EaFlat"/> operands, whose effective address
/// is <c>disp + r[EaBase] + (r[EaIndex] &lt;&lt; scale)</c> over the register file with its zero and next-RIP slots.
/// </remarks>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>Register-file slot that always holds 0 (an absent base or index register).</summary>
    internal const byte ZeroSlot = 16;
    /// <summary>Register-file slot holding the address of the next instruction while one executes (RIP-relative
    /// operands, branch targets, pushed return addresses).</summary>
    internal const byte NextRipSlot = 17;
    private const int RegisterSlots = 18;

    /// <summary>Set by a handler that leaves the block to exit (as opposed to ending the block).</summary>
    private bool _exiting;
    /// <summary>Index in its block of the instruction that left the block early (exit or end of block).</summary>
    private int _stopIndex;

    internal static delegate*<EmulatedVcpu, ref DecodedInstruction, ulong, bool> SelectHandler(ref DecodedInstruction d)
    {
        bool wide = d.Size is 4 or 8;
        bool reg0 = d.Kind0 == OperandKind.Register, mem0 = d.Kind0 == OperandKind.Memory;
        bool reg1 = d.Kind1 == OperandKind.Register, mem1 = d.Kind1 == OperandKind.Memory;
        bool imm1 = d.Kind1 == OperandKind.Immediate;
        bool flat = d.EaFlat;
        bool plain = !d.Lock && !d.Rep && !d.Repne;
        switch (d.Op)
        {
            case Op.Nop: return &HNop;
            case Op.MovRR64: return &HMovRR64;
            case Op.MovRR32: return &HMovRR32;
            case Op.MovRI: return &HMovRI;
            case Op.MovRM64: return flat ? &HMovRM64 : &Generic;
            case Op.MovRM32: return flat ? &HMovRM32 : &Generic;
            case Op.MovMR: return flat ? &HMovMR : &Generic;
            case Op.AddRR: return &HAddRR;
            case Op.AddRI: return &HAddRI;
            case Op.SubRR: return &HSubRR;
            case Op.SubRI: return &HSubRI;
            case Op.CmpRR: return &HCmpRR;
            case Op.CmpRI: return &HCmpRI;
            case Op.AndRR: return &HAndRR;
            case Op.AndRI: return &HAndRI;
            case Op.TestRR: return &HTestRR;
            case Op.TestRI: return &HTestRI;
            case Op.OrRR: return &HOrRR;
            case Op.OrRI: return &HOrRI;
            case Op.XorRR: return &HXorRR;
            case Op.XorRI: return &HXorRI;
            case Op.ShlRI: return &HShlRI;
            case Op.ShrRI: return &HShrRI;
            case Op.SarRI: return &HSarRI;
            case Op.IncR: return &HIncR;
            case Op.DecR: return &HDecR;
            case Op.Mov:
                // Stores of an immediate (mov [m], imm): the immediate is already sign-extended to 64 bits.
                if (mem0 && imm1 && flat && plain) return &HMovMI;
                // Byte and word stores (high-byte registers included).
                if (mem0 && reg1 && flat && plain && d.Size1 == d.Size) return &HMovMR;
                break;
            case Op.Shl: case Op.Shr: case Op.Sar:
                // By CL. A count that masks to 0 changes nothing (but a 32-bit destination is still written).
                if (reg0 && reg1 && d.Reg1 == Rcx && wide && plain)
                    return d.Op switch { Op.Shl => &HShlRC, Op.Shr => &HShrRC, _ => &HSarRC };
                break;
            case Op.Add: case Op.Sub: case Op.And: case Op.Or: case Op.Xor:
                if (reg0 && mem1 && wide && flat && plain && d.Size1 == d.Size)
                {
                    return d.Op switch
                    {
                        Op.Add => &HAddRM, Op.Sub => &HSubRM, Op.And => &HAndRM, Op.Or => &HOrRM, _ => &HXorRM,
                    };
                }
                break;
            case Op.Cmp: case Op.Test:
                // Flags only, no destination write: any size, any register (high-byte ones too).
                if (!plain || d.OperandCount3) break;
                if (reg0 && mem1 && flat) return d.Op == Op.Cmp ? &HCmpRM : &HTestRM;
                if (mem0 && flat && (reg1 || imm1)) return d.Op == Op.Cmp ? &HCmpM : &HTestM;
                break;
            case Op.Rol: case Op.Ror:
                if (reg0 && imm1 && wide && plain && (d.Immediate & (d.Size == 8 ? 0x3FUL : 0x1FUL)) != 0)
                    return d.Op == Op.Rol ? &HRolRI : &HRorRI;
                break;
            case Op.Not:
                if (reg0 && wide && plain) return &HNotR;
                break;
            case Op.Neg:
                if (reg0 && wide && plain) return &HNegR;
                break;
            case Op.Lea:
                if (wide && !d.AddressSize32)
                {
                    // RIP-relative: the next RIP is in a register argument, not (yet) in the register file.
                    if (d.MemBase == RipRegister) return d.Size == 8 ? &HLeaRip64 : &HLeaRip32;
                    return d.Size == 8 ? &HLea64 : &HLea32;
                }
                break;
            case Op.Movzx:
                if (reg0 && wide && (d.Size1 is 1 or 2))
                {
                    if (mem1 && flat && plain) return d.Size1 == 1 ? &HMovzxRM8 : &HMovzxRM16;
                    if (reg1 && (d.Reg1 & HighByte) == 0) return d.Size1 == 1 ? &HMovzxRR8 : &HMovzxRR16;
                }
                break;
            case Op.Movsx:
                if (reg0 && wide && (d.Size1 is 1 or 2 or 4))
                {
                    if (mem1 && flat && plain) return &HMovsxRM;
                    if (reg1 && (d.Reg1 & HighByte) == 0) return &HMovsxRR;
                }
                break;
            case Op.Cmovcc:
                if (reg0 && reg1 && wide && d.Size1 == d.Size) return &HCmovRR;
                break;
            case Op.Setcc:
                if (reg0 && (d.Reg0 & HighByte) == 0) return &HSetccR;
                break;
            case Op.Jcc:
                return d.Condition switch
                {
                    0 => &HJcc0, 1 => &HJcc1, 2 => &HJcc2, 3 => &HJcc3, 4 => &HJcc4, 5 => &HJcc5, 6 => &HJcc6,
                    7 => &HJcc7, 8 => &HJcc8, 9 => &HJcc9, 10 => &HJcc10, 11 => &HJcc11, 12 => &HJcc12,
                    13 => &HJcc13, 14 => &HJcc14, _ => &HJcc15,
                };
            case Op.Jmp:
                if (d.Kind0 == OperandKind.Branch) return &HJmp;
                break;
            case Op.Call:
                if (d.Kind0 == OperandKind.Branch && d.Size == 8) return &HCall;
                break;
            case Op.Ret:
                if (d.Size == 8 && d.Kind0 != OperandKind.Immediate) return &HRet;
                break;
            case Op.Push:
                if (reg0 && d.Size == 8) return &HPushR;
                break;
            case Op.Pop:
                if (reg0 && d.Size == 8) return &HPopR;
                break;
        }
        return &Generic;
    }

    /// <summary>
    /// Fuse a block's closing compare-and-branch (cmp/test r, r or r, imm followed by jcc, the end of nearly every
    /// loop) into one handler on the compare, which also takes or skips the branch and leaves the block: one
    /// dispatch instead of two. The jcc keeps its own entry (single-stepping and the instruction count use it).
    /// </summary>
    internal static void FuseBlockEnd(Span<DecodedInstruction> block)
    {
        if (block.Length < 2) return;
        ref var jcc = ref block[^1];
        ref var d = ref block[^2];
        if (jcc.Op != Op.Jcc) return;
        delegate*<EmulatedVcpu, ref DecodedInstruction, ulong, bool> fused = d.Op switch
        {
            Op.CmpRR => &HCmpRRJcc,
            Op.CmpRI => &HCmpRIJcc,
            Op.TestRR => &HTestRRJcc,
            Op.TestRI => &HTestRIJcc,
            _ => null,
        };
        if (fused != null) d.Handler = fused;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmpRRJcc(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.CompareAndJump(ref d, v._r[d.Reg1]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmpRIJcc(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.CompareAndJump(ref d, d.Immediate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HTestRRJcc(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.TestAndJump(ref d, v._r[d.Reg1]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HTestRIJcc(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.TestAndJump(ref d, d.Immediate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool CompareAndJump(ref DecodedInstruction d, ulong b)
    {
        int size = d.Size, sign = Alu.SignShift(size);
        ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
        b &= m;
        ulong r = (a - b) & m;
        SetLazy(LazyKind.Sub, a, b, r, size);
        ref var jcc = ref Unsafe.Add(ref d, 1);
        int cc = jcc.Condition;
        bool zf = r == 0, sf = ((r >> sign) & 1) != 0;
        bool taken = (cc >> 1) switch
        {
            0 => ((((a ^ b) & (a ^ r)) >> sign) & 1) != 0,
            1 => a < b,
            2 => zf,
            3 => a <= b,
            4 => sf,
            5 => (System.Numerics.BitOperations.PopCount(r & 0xFF) & 1) == 0,
            6 => sf != (((((a ^ b) & (a ^ r)) >> sign) & 1) != 0),
            _ => zf || sf != (((((a ^ b) & (a ^ r)) >> sign) & 1) != 0),
        };
        return FusedJump(ref jcc, taken ^ ((cc & 1) != 0));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TestAndJump(ref DecodedInstruction d, ulong b)
    {
        int size = d.Size, sign = Alu.SignShift(size);
        ulong r = _r[d.Reg0] & b & Alu.Mask(size);
        SetLazy(LazyKind.Logic, 0, 0, r, size);
        ref var jcc = ref Unsafe.Add(ref d, 1);
        int cc = jcc.Condition;
        // CF = OF = 0 after a logic op.
        bool zf = r == 0, sf = ((r >> sign) & 1) != 0;
        bool taken = (cc >> 1) switch
        {
            0 or 1 => false,
            2 or 3 => zf,
            4 or 6 => sf,
            5 => (System.Numerics.BitOperations.PopCount(r & 0xFF) & 1) == 0,
            _ => zf || sf,
        };
        return FusedJump(ref jcc, taken ^ ((cc & 1) != 0));
    }

    /// <summary>The jcc half of a fused pair: RIP moves past (or to the target of) the jcc, the block is left.
    /// A non-canonical target faults on the jcc, after the compare has retired, as it would unfused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FusedJump(ref DecodedInstruction jcc, bool taken)
    {
        ulong jccRip = _next, next = jccRip + jcc.Length;
        if (taken)
        {
            next += jcc.Immediate;
            if (!PageTableWalker.IsCanonical(next))
            {
                _rip = jccRip;
                RaiseGp0();
            }
        }
        _next = next;
        return true; // the jcc ends the block
    }

    /// <summary>
    /// Threaded dispatch: a handler that goes on with its block calls the next instruction's handler in tail position
    /// (the JIT emits a jmp), passing the address after that instruction in a register, so each handler has its
    /// own indirect branch (predicted per handler) and RIP does not go through memory. A handler that needs RIP in
    /// memory (it may fault, reads RIP-relative memory, branches, or is the block's last) calls this first: the
    /// current instruction's RIP for the fault path and the next-RIP slot for <see cref="_next"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Enter(ref DecodedInstruction d, ulong next)
    {
        _rip = next - d.Length;
        _r[NextRipSlot] = next;
    }

    /// <summary>The block's last instruction went on to the next one: leave its address for <see cref="Run"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EndOfBlock(ulong next)
    {
        _r[NextRipSlot] = next;
        return true;
    }

    /// <summary>Leave the block after <paramref name="d"/> (an exit, or a store into the running code).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Stop(ref DecodedInstruction d)
    {
        _stopIndex = d.Index;
        return false;
    }

    /// <summary>Everything without a specialised handler: the <see cref="Execute"/> switch.</summary>
    private static bool Generic(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        if (!v.Execute(ref d))
        {
            v._exiting = true;
            return v.Stop(ref d);
        }
        if (v._endBlock) return v.Stop(ref d);
        if (d.Last) return true;
        next = v._r[NextRipSlot];
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    /// <summary>Effective address of a flat memory operand (<see cref="DecodedInstruction.EaFlat"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FlatEa(ref DecodedInstruction d)
    {
        ulong* r = _r;
        _stackAccess = d.EaStack;
        return (ulong)d.Displacement + r[d.EaBase] + (r[d.EaIndex] << d.MemScaleShift);
    }

    // ---- moves ------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HNop(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovRR64(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = v._r[d.Reg1];
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovRR32(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = (uint)v._r[d.Reg1];
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = d.Immediate;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovRM64(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v._r[d.Reg0] = v.Read(v.FlatEa(ref d), 8);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovRM32(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v._r[d.Reg0] = v.Read(v.FlatEa(ref d), 4);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovMR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.Write(v.FlatEa(ref d), d.Size, v.GetReg(d.Reg1, d.Size));
        if (v._endBlock) return v.Stop(ref d);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovMI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.Write(v.FlatEa(ref d), d.Size, d.Immediate);
        if (v._endBlock) return v.Stop(ref d);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovzxRR8(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = (byte)v._r[d.Reg1];
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovzxRR16(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = (ushort)v._r[d.Reg1];
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovzxRM8(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v._r[d.Reg0] = v.Read(v.FlatEa(ref d), 1);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovzxRM16(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v._r[d.Reg0] = v.Read(v.FlatEa(ref d), 2);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovsxRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        ulong x = Alu.SignExtend(v._r[d.Reg1], d.Size1);
        v._r[d.Reg0] = d.Size == 8 ? x : (uint)x;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HMovsxRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        ulong x = Alu.SignExtend(v.Read(v.FlatEa(ref d), d.Size1), d.Size1);
        v._r[d.Reg0] = d.Size == 8 ? x : (uint)x;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HLea64(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        ulong* r = v._r;
        r[d.Reg0] = (ulong)d.Displacement + r[d.EaBase] + (r[d.EaIndex] << d.MemScaleShift);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HLea32(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        ulong* r = v._r;
        r[d.Reg0] = (uint)((ulong)d.Displacement + r[d.EaBase] + (r[d.EaIndex] << d.MemScaleShift));
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HLeaRip64(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = next + (ulong)d.Displacement;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HLeaRip32(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v._r[d.Reg0] = (uint)(next + (ulong)d.Displacement);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmovRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        ulong* r = v._r;
        // A 32-bit cmov writes its destination even when false, zero-extending it.
        ulong x = v.Condition(d.Condition) ? r[d.Reg1] : r[d.Reg0];
        r[d.Reg0] = d.Size == 8 ? x : (uint)x;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HSetccR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        ulong* r = v._r;
        r[d.Reg0] = (r[d.Reg0] & ~0xFFUL) | (v.Condition(d.Condition) ? 1UL : 0);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    // ---- ALU, register destination (lazy flags; see EmulatedVcpu.LazyFlags.cs) ---------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool AddTo(ref DecodedInstruction d, ulong b)
    {
        int size = d.Size;
        ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
        b &= m;
        ulong r = (a + b) & m;
        SetLazy(LazyKind.Add, a, b, r, size);
        _r[d.Reg0] = r;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SubFrom(ref DecodedInstruction d, ulong b, bool store)
    {
        int size = d.Size;
        ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
        b &= m;
        ulong r = (a - b) & m;
        SetLazy(LazyKind.Sub, a, b, r, size);
        if (store) _r[d.Reg0] = r;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool LogicTo(ref DecodedInstruction d, ulong r, bool store)
    {
        int size = d.Size;
        r &= Alu.Mask(size);
        SetLazy(LazyKind.Logic, 0, 0, r, size);
        if (store) _r[d.Reg0] = r;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HAddRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.AddTo(ref d, v._r[d.Reg1]);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HAddRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.AddTo(ref d, d.Immediate);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HAddRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.AddTo(ref d, v.Read(v.FlatEa(ref d), d.Size));
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HSubRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.SubFrom(ref d, v._r[d.Reg1], true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HSubRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.SubFrom(ref d, d.Immediate, true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HSubRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.SubFrom(ref d, v.Read(v.FlatEa(ref d), d.Size), true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmpRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.SubFrom(ref d, v._r[d.Reg1], false);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmpRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.SubFrom(ref d, d.Immediate, false);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HAndRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] & v._r[d.Reg1], true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HAndRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] & d.Immediate, true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HAndRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.LogicTo(ref d, v._r[d.Reg0] & v.Read(v.FlatEa(ref d), d.Size), true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HTestRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] & v._r[d.Reg1], false);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HTestRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] & d.Immediate, false);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HOrRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] | v._r[d.Reg1], true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HOrRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] | d.Immediate, true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HOrRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.LogicTo(ref d, v._r[d.Reg0] | v.Read(v.FlatEa(ref d), d.Size), true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HXorRR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] ^ v._r[d.Reg1], true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HXorRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.LogicTo(ref d, v._r[d.Reg0] ^ d.Immediate, true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HXorRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.LogicTo(ref d, v._r[d.Reg0] ^ v.Read(v.FlatEa(ref d), d.Size), true);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    /// <summary>cmp/test r, [m] (any size): flags only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmpRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        int size = d.Size;
        ulong b = v.Read(v.FlatEa(ref d), size);
        v.LazyBinary(Op.Cmp, v.GetReg(d.Reg0, size), b, size);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HTestRM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        int size = d.Size;
        ulong b = v.Read(v.FlatEa(ref d), size);
        v.LazyBinary(Op.Test, v.GetReg(d.Reg0, size), b, size);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    /// <summary>cmp/test [m], r or [m], imm (any size): flags only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCmpM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        int size = d.Size;
        ulong src = d.Kind1 == OperandKind.Immediate ? d.Immediate : v.GetReg(d.Reg1, size);
        v.LazyBinary(Op.Cmp, v.Read(v.FlatEa(ref d), size), src, size);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HTestM(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        int size = d.Size;
        ulong src = d.Kind1 == OperandKind.Immediate ? d.Immediate : v.GetReg(d.Reg1, size);
        v.LazyBinary(Op.Test, v.Read(v.FlatEa(ref d), size), src, size);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HNotR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        ulong x = ~v._r[d.Reg0];
        v._r[d.Reg0] = d.Size == 8 ? x : (uint)x;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    /// <summary>neg r: the flags of 0 - r (SDM vol. 2, NEG: CF = source != 0, the rest as for sub).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HNegR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.NegR(ref d);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool NegR(ref DecodedInstruction d)
    {
        int size = d.Size;
        ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
        ulong r = (0 - a) & m;
        SetLazy(LazyKind.Sub, 0, a, r, size);
        _r[d.Reg0] = r;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HShlRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, c = (int)d.Immediate, bits = size << 3;
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        ulong r = (a << c) & m, cf = (a >> (bits - c)) & 1;
        v._flags = (v._eflags & ~Flags.Status) | cf | Alu.Szp(r, size) | ((((r >> (bits - 1)) & 1) ^ cf) << 11);
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HShrRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, c = (int)d.Immediate;
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        ulong r = a >> c, cf = (a >> (c - 1)) & 1;
        v._flags = (v._eflags & ~Flags.Status) | cf | Alu.Szp(r, size) | (((a >> Alu.SignShift(size)) & 1) << 11);
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HSarRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, c = (int)d.Immediate;
        ulong m = Alu.Mask(size);
        long sa = (long)Alu.SignExtend(v._r[d.Reg0] & m, size);
        ulong r = (ulong)(sa >> c) & m, cf = (ulong)(sa >> (c - 1)) & 1;
        v._flags = (v._eflags & ~Flags.Status) | cf | Alu.Szp(r, size);
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HIncR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size;
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        ulong r = (a + 1) & m;
        v.KeepCarry();
        v.SetLazy(LazyKind.Inc, a, 1, r, size);
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HDecR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size;
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        ulong r = (a - 1) & m;
        v.KeepCarry();
        v.SetLazy(LazyKind.Dec, a, 1, r, size);
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HShlRC(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, bits = size << 3, c = (int)(v._r[Rcx] & (ulong)(bits - 1));
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        if (c != 0)
        {
            ulong r = (a << c) & m, cf = (a >> (bits - c)) & 1;
            v._flags = (v._eflags & ~Flags.Status) | cf | Alu.Szp(r, size) | ((((r >> (bits - 1)) & 1) ^ cf) << 11);
            a = r;
        }
        v._r[d.Reg0] = a;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HShrRC(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, bits = size << 3, c = (int)(v._r[Rcx] & (ulong)(bits - 1));
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        if (c != 0)
        {
            ulong r = a >> c, cf = (a >> (c - 1)) & 1;
            v._flags = (v._eflags & ~Flags.Status) | cf | Alu.Szp(r, size) | (((a >> (bits - 1)) & 1) << 11);
            a = r;
        }
        v._r[d.Reg0] = a;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HSarRC(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, bits = size << 3, c = (int)(v._r[Rcx] & (ulong)(bits - 1));
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        if (c != 0)
        {
            long sa = (long)Alu.SignExtend(a, size);
            ulong r = (ulong)(sa >> c) & m, cf = (ulong)(sa >> (c - 1)) & 1;
            v._flags = (v._eflags & ~Flags.Status) | cf | Alu.Szp(r, size);
            a = r;
        }
        v._r[d.Reg0] = a;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    /// <summary>rol r, imm with a nonzero count (32/64-bit: the rotation is the masked count): CF and OF as
    /// <see cref="Alu.Shift"/> computes them, the other status flags unchanged.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HRolRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, bits = size << 3, k = (int)(d.Immediate & (ulong)(bits - 1));
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        ulong r = ((a << k) | (a >> (bits - k))) & m;
        ulong cf = r & 1;
        v.SetRotateFlags(cf, ((r >> (bits - 1)) & 1) ^ cf);
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HRorRI(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        int size = d.Size, bits = size << 3, k = (int)(d.Immediate & (ulong)(bits - 1));
        ulong m = Alu.Mask(size), a = v._r[d.Reg0] & m;
        ulong r = ((a >> k) | (a << (bits - k))) & m;
        ulong cf = (r >> (bits - 1)) & 1;
        v.SetRotateFlags(cf, cf ^ ((r >> (bits - 2)) & 1));
        v._r[d.Reg0] = r;
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    // ---- control flow and the stack ------------------------------------------------------------------

    // jcc, one handler per condition so that the condition is a constant in each (see ConstantCondition).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc0(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 0);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc1(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 1);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc2(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 2);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc3(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 3);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc4(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 4);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc5(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 5);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc6(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 6);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc7(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 7);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc8(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 8);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc9(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 9);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc10(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 10);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc11(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 11);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc12(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 12);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc13(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 13);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc14(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 14);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJcc15(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        return v.JumpIf(ref d, 15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool JumpIf(ref DecodedInstruction d, int cc)
    {
        if (ConstantCondition(cc)) Branch(_next + d.Immediate);
        return true;
    }

    /// <summary><see cref="Condition"/> for a constant <paramref name="cc"/>: inlined, so the JIT keeps only the
    /// flag computations that condition needs (cf. <see cref="LazyCondition"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ConstantCondition(int cc)
    {
        if (_lazy == LazyKind.None) return Flags.Condition(cc, _eflags);
        ulong a = _lazyA, b = _lazyB, r = _lazyR;
        int sign = Alu.SignShift(_lazySize);
        bool result;
        switch (cc >> 1)
        {
            case 2: result = r == 0; break;
            case 4: result = ((r >> sign) & 1) != 0; break;
            case 5: result = (System.Numerics.BitOperations.PopCount(r & 0xFF) & 1) == 0; break;
            case 1: result = LazyCarry(a, b, r); break;
            case 3: result = r == 0 || LazyCarry(a, b, r); break;
            case 0: result = LazyOverflow(a, b, r, sign); break;
            case 6: result = (((r >> sign) & 1) != 0) != LazyOverflow(a, b, r, sign); break;
            default: result = r == 0 || ((((r >> sign) & 1) != 0) != LazyOverflow(a, b, r, sign)); break;
        }
        return result ^ ((cc & 1) != 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool LazyCarry(ulong a, ulong b, ulong r) => _lazy switch
    {
        LazyKind.Sub => a < b,
        LazyKind.Add => r < a,
        LazyKind.Inc or LazyKind.Dec => (_eflags & Flags.CF) != 0,
        LazyKind.Rotated => a != 0,
        _ => false,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool LazyOverflow(ulong a, ulong b, ulong r, int sign) => _lazy switch
    {
        LazyKind.Sub => ((((a ^ b) & (a ^ r)) >> sign) & 1) != 0,
        LazyKind.Add => ((((a ^ r) & (b ^ r)) >> sign) & 1) != 0,
        LazyKind.Inc => r == 1UL << sign,
        LazyKind.Dec => a == 1UL << sign,
        LazyKind.Rotated => b != 0,
        _ => false,
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HJmp(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.Branch(v._next + d.Immediate);
        return true; // always the last instruction of its block
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HCall(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        ulong target = v._next + d.Immediate;
        v.CheckCanonical(target);
        v.Push(v._next, 8);
        v._next = target;
        if (v._endBlock) return v.Stop(ref d); return true; // always the last instruction of its block
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HRet(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v._stackAccess = true;
        ulong* r = v._r;
        ulong target = v.Read(r[Rsp], 8);
        v.CheckCanonical(target);
        r[Rsp] += 8;
        r[NextRipSlot] = target;
        return true; // always the last instruction of its block
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HPushR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v.Push(v._r[d.Reg0], 8);
        if (v._endBlock) return v.Stop(ref d);
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HPopR(EmulatedVcpu v, ref DecodedInstruction d, ulong next)
    {
        v.Enter(ref d, next);
        v._stackAccess = true;
        ulong* r = v._r;
        ulong sp = r[Rsp];
        ulong x = v.Read(sp, 8);
        r[Rsp] = sp + 8;
        r[d.Reg0] = x; // pop rsp loads the popped value (SDM vol. 2, POP)
        if (d.Last) return v.EndOfBlock(next);
        ref var n = ref Unsafe.Add(ref d, 1);
        return n.Handler(v, ref n, next + n.Length);
    }
}
