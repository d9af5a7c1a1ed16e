using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>The integer instruction set. Each handler reads (and faults) before it commits anything.</summary>
public sealed unsafe partial class EmulatedVcpu
{
    private const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7;

    // ---- register and operand access ----------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong GetReg(byte code, int size)
    {
        if ((code & HighByte) != 0) return (_r[code & 3] >> 8) & 0xFF;
        ulong v = _r[code];
        return size == 8 ? v : v & Alu.Mask(size);
    }

    /// <summary>Register write with x86-64 merge rules: 32-bit writes zero-extend, 8/16-bit writes merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetReg(byte code, int size, ulong v)
    {
        switch (size)
        {
            case 8: _r[code] = v; break;
            case 4: _r[code] = (uint)v; break;
            case 2: _r[code] = (_r[code] & ~0xFFFFUL) | (v & 0xFFFF); break;
            default:
                if ((code & HighByte) != 0)
                {
                    int i = code & 3;
                    _r[i] = (_r[i] & ~0xFF00UL) | ((v & 0xFF) << 8);
                }
                else
                {
                    _r[code] = (_r[code] & ~0xFFUL) | (v & 0xFF);
                }
                break;
        }
    }

    /// <summary>Effective address without segment base (lea).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Offset(ref DecodedInstruction d)
    {
        ulong a = (ulong)d.Displacement;
        byte b = d.MemBase;
        if (b != NoRegister) a += b == RipRegister ? _next : _r[b];
        if (d.MemIndex != NoRegister) a += _r[d.MemIndex] << d.MemScaleShift;
        return d.AddressSize32 ? (uint)a : a;
    }

    /// <summary>Linear address of the memory operand. In 64-bit mode only FS and GS have a base (SDM vol. 1, 3.4.2.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Ea(ref DecodedInstruction d)
    {
        ulong a = Offset(ref d);
        switch (d.MemSegment)
        {
            case SegDefault: _stackAccess = false; return a;
            case SegStack: _stackAccess = true; return a;
            case SegFs: _stackAccess = false; return a + Registers.FsBase;
            default: _stackAccess = false; return a + Registers.GsBase;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Source1(ref DecodedInstruction d, int size) => d.Kind1 switch
    {
        OperandKind.Immediate => d.Immediate & Alu.Mask(size),
        OperandKind.Register => GetReg(d.Reg1, size),
        OperandKind.Memory => Read(Ea(ref d), size),
        OperandKind.SegmentRegister => SegmentSelector(d.Reg1),
        _ => 0,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Source0(ref DecodedInstruction d, int size) => d.Kind0 switch
    {
        OperandKind.Register => GetReg(d.Reg0, size),
        OperandKind.Memory => Read(Ea(ref d), size),
        OperandKind.Immediate => d.Immediate & Alu.Mask(size),
        OperandKind.SegmentRegister => SegmentSelector(d.Reg0),
        _ => 0,
    };

    private ulong SegmentSelector(byte seg)
    {
        var r = Registers;
        return seg switch { 0 => r.Es, 1 => r.Cs, 2 => r.Ss, 3 => r.Ds, 4 => r.Fs, _ => r.Gs };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push(ulong v, int size)
    {
        ulong sp = _r[Rsp] - (ulong)size;
        _stackAccess = true;
        Write(sp, size, v);
        _r[Rsp] = sp;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckCanonical(ulong target)
    {
        // A branch to a non-canonical address faults on the branch itself (SDM vol. 2, JMP: #GP(0)).
        if (!PageTableWalker.IsCanonical(target)) RaiseGp0();
    }

    // ---- dispatch -------------------------------------------------------------------------------------------

    /// <summary>Execute one instruction. Returns false to exit with <see cref="_exit"/> (RIP after the instruction).</summary>
    private bool Execute(ref DecodedInstruction d)
    {
        switch (d.Op)
        {
            case Op.Nop:
                return true;

            // ---- specialised forms (DecodedInstruction.Specialise): 32/64-bit register destination ----
            case Op.MovRR64: _r[d.Reg0] = _r[d.Reg1]; return true;
            case Op.MovRR32: _r[d.Reg0] = (uint)_r[d.Reg1]; return true;
            case Op.MovRI: _r[d.Reg0] = d.Immediate; return true;
            case Op.MovRM64: _r[d.Reg0] = Read(Ea(ref d), 8); return true;
            case Op.MovRM32: _r[d.Reg0] = Read(Ea(ref d), 4); return true;
            case Op.MovMR: Write(Ea(ref d), d.Size, _r[d.Reg1]); return true;
            case Op.AddRR: case Op.AddRI:
            {
                int size = d.Size;
                ulong m = Alu.Mask(size), a = _r[d.Reg0] & m, b = d.Op == Op.AddRR ? _r[d.Reg1] & m : d.Immediate;
                ulong r = (a + b) & m;
                SetLazy(LazyKind.Add, a, b, r, size);
                _r[d.Reg0] = r;
                return true;
            }
            case Op.SubRR: case Op.SubRI: case Op.CmpRR: case Op.CmpRI:
            {
                int size = d.Size;
                ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
                ulong b = d.Op is Op.SubRR or Op.CmpRR ? _r[d.Reg1] & m : d.Immediate;
                ulong r = (a - b) & m;
                SetLazy(LazyKind.Sub, a, b, r, size);
                if (d.Op is Op.SubRR or Op.SubRI) _r[d.Reg0] = r;
                return true;
            }
            case Op.AndRR: case Op.AndRI: case Op.TestRR: case Op.TestRI:
            {
                int size = d.Size;
                ulong m = Alu.Mask(size);
                ulong r = _r[d.Reg0] & (d.Op is Op.AndRR or Op.TestRR ? _r[d.Reg1] & m : d.Immediate);
                SetLazy(LazyKind.Logic, 0, 0, r, size);
                if (d.Op is Op.AndRR or Op.AndRI) _r[d.Reg0] = r;
                return true;
            }
            case Op.OrRR: case Op.OrRI:
            {
                int size = d.Size;
                ulong m = Alu.Mask(size);
                ulong r = (_r[d.Reg0] | (d.Op == Op.OrRR ? _r[d.Reg1] : d.Immediate)) & m;
                SetLazy(LazyKind.Logic, 0, 0, r, size);
                _r[d.Reg0] = r;
                return true;
            }
            case Op.XorRR: case Op.XorRI:
            {
                int size = d.Size;
                ulong m = Alu.Mask(size);
                ulong r = (_r[d.Reg0] ^ (d.Op == Op.XorRR ? _r[d.Reg1] : d.Immediate)) & m;
                SetLazy(LazyKind.Logic, 0, 0, r, size);
                _r[d.Reg0] = r;
                return true;
            }
            // Shifts by a nonzero immediate count (< operand width) overwrite all six status flags (SDM vol. 2, SAL/SAR/SHL/SHR):
            // same results as Alu.Shift, without its count and op dispatch and without materialising lazy flags.
            case Op.ShlRI:
            {
                int size = d.Size, c = (int)d.Immediate, bits = size << 3;
                ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
                ulong r = (a << c) & m, cf = (a >> (bits - c)) & 1;
                _flags = (_eflags & ~Flags.Status) | cf | Alu.Szp(r, size) | ((((r >> (bits - 1)) & 1) ^ cf) << 11);
                _r[d.Reg0] = r;
                return true;
            }
            case Op.ShrRI:
            {
                int size = d.Size, c = (int)d.Immediate;
                ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
                ulong r = a >> c, cf = (a >> (c - 1)) & 1;
                _flags = (_eflags & ~Flags.Status) | cf | Alu.Szp(r, size) | (((a >> Alu.SignShift(size)) & 1) << 11);
                _r[d.Reg0] = r;
                return true;
            }
            case Op.SarRI:
            {
                int size = d.Size, c = (int)d.Immediate;
                ulong m = Alu.Mask(size);
                long sa = (long)Alu.SignExtend(_r[d.Reg0] & m, size);
                ulong r = (ulong)(sa >> c) & m, cf = (ulong)(sa >> (c - 1)) & 1;
                _flags = (_eflags & ~Flags.Status) | cf | Alu.Szp(r, size);
                _r[d.Reg0] = r;
                return true;
            }
            case Op.IncR: case Op.DecR:
            {
                int size = d.Size;
                ulong m = Alu.Mask(size), a = _r[d.Reg0] & m;
                ulong r = (d.Op == Op.IncR ? a + 1 : a - 1) & m;
                KeepCarry();
                SetLazy(d.Op == Op.IncR ? LazyKind.Inc : LazyKind.Dec, a, 1, r, size);
                _r[d.Reg0] = r;
                return true;
            }

            case Op.Mov:
            {
                int size = d.Size;
                ulong v = Source1(ref d, size);
                if (d.Kind0 == OperandKind.Register) SetReg(d.Reg0, size, v);
                else Write(Ea(ref d), size, v);
                return true;
            }
            case Op.Movzx:
                SetReg(d.Reg0, d.Size, Source1(ref d, d.Size1));
                return true;
            case Op.Movsx:
                SetReg(d.Reg0, d.Size, Alu.SignExtend(Source1(ref d, d.Size1), d.Size1));
                return true;
            case Op.Lea:
                SetReg(d.Reg0, d.Size, Offset(ref d));
                return true;

            case Op.Add: case Op.Or: case Op.Adc: case Op.Sbb: case Op.And: case Op.Sub: case Op.Xor:
            case Op.Cmp: case Op.Test:
                BinaryAlu(ref d);
                return true;
            case Op.Inc: case Op.Dec: case Op.Neg: case Op.Not:
            {
                int size = d.Size;
                if (d.Kind0 == OperandKind.Register)
                {
                    ulong f = _flags;
                    ulong r = Alu.Unary(d.Op, GetReg(d.Reg0, size), size, ref f);
                    SetReg(d.Reg0, size, r);
                    _flags = f;
                }
                else
                {
                    ReadModifyWrite(ref d, Ea(ref d), size, 0);
                }
                return true;
            }
            case Op.Shl: case Op.Shr: case Op.Sar: case Op.Rol: case Op.Ror: case Op.Rcl: case Op.Rcr:
            {
                int size = d.Size;
                ulong count = d.Kind1 == OperandKind.Register ? _r[Rcx] : d.Immediate;
                ulong ea = 0;
                ulong a = d.Kind0 == OperandKind.Register ? GetReg(d.Reg0, size) : ReadForWrite(ea = Ea(ref d), size);
                // shl/shr/sar by a nonzero count overwrite all six status flags: no need to materialise lazy ones.
                ulong f = d.Op is Op.Shl or Op.Shr or Op.Sar && (count & (size == 8 ? 0x3FUL : 0x1FUL)) != 0 ? _eflags : _flags;
                ulong r = Alu.Shift(d.Op, a, count, size, ref f);
                if (d.Kind0 == OperandKind.Register) SetReg(d.Reg0, size, r);
                else if ((count & (size == 8 ? 0x3FUL : 0x1FUL)) != 0) Write(ea, size, r);
                _flags = f;
                return true;
            }
            case Op.Shld: case Op.Shrd:
            {
                int size = d.Size;
                ulong count = d.Kind2 == OperandKind.Register ? _r[Rcx] : d.Immediate;
                ulong src = GetReg(d.Reg1, size);
                ulong ea = 0;
                ulong a = d.Kind0 == OperandKind.Register ? GetReg(d.Reg0, size) : ReadForWrite(ea = Ea(ref d), size);
                ulong f = _flags;
                ulong r = Alu.DoubleShift(d.Op == Op.Shld, a, src, count, size, ref f);
                if (d.Kind0 == OperandKind.Register) SetReg(d.Reg0, size, r);
                else if ((count & (size == 8 ? 0x3FUL : 0x1FUL)) != 0) Write(ea, size, r);
                _flags = f;
                return true;
            }

            case Op.Mul: Multiply(ref d, signed: false); return true;
            case Op.Imul:
                if (d.Kind1 == OperandKind.None) Multiply(ref d, signed: true);
                else ImulTruncating(ref d);
                return true;
            case Op.Div: DivideUnsigned(ref d); return true;
            case Op.Idiv: DivideSigned(ref d); return true;

            case Op.Cbw: SetReg(Rax, 2, (ulong)(sbyte)_r[Rax]); return true;
            case Op.Cwde: SetReg(Rax, 4, (ulong)(short)_r[Rax]); return true;
            case Op.Cdqe: _r[Rax] = (ulong)(int)_r[Rax]; return true;
            case Op.Cwd: SetReg(Rdx, 2, (_r[Rax] & 0x8000) != 0 ? ulong.MaxValue : 0); return true;
            case Op.Cdq: SetReg(Rdx, 4, (_r[Rax] & 0x8000_0000) != 0 ? ulong.MaxValue : 0); return true;
            case Op.Cqo: _r[Rdx] = (long)_r[Rax] < 0 ? ulong.MaxValue : 0; return true;

            case Op.Xchg:
            {
                int size = d.Size;
                if (d.Kind0 == OperandKind.Register)
                {
                    ulong a = GetReg(d.Reg0, size), b = GetReg(d.Reg1, size);
                    SetReg(d.Reg0, size, b);
                    SetReg(d.Reg1, size, a);
                }
                else
                {
                    // xchg with memory is always locked (SDM vol. 2, XCHG).
                    ulong old = ReadModifyWrite(ref d, Ea(ref d), size, GetReg(d.Reg1, size));
                    SetReg(d.Reg1, size, old);
                }
                return true;
            }
            case Op.Xadd:
            {
                int size = d.Size;
                ulong src = GetReg(d.Reg1, size);
                if (d.Kind0 == OperandKind.Register)
                {
                    ulong dst = GetReg(d.Reg0, size);
                    ulong f = _flags;
                    ulong sum = Alu.Add(dst, src, 0, size, ref f);
                    SetReg(d.Reg1, size, dst);
                    SetReg(d.Reg0, size, sum);
                    _flags = f;
                }
                else
                {
                    ulong old = ReadModifyWrite(ref d, Ea(ref d), size, src);
                    SetReg(d.Reg1, size, old);
                }
                return true;
            }
            case Op.Cmpxchg: CompareExchange(ref d); return true;
            case Op.Cmpxchg8b: CompareExchange8b(ref d); return true;
            case Op.Cmpxchg16b: CompareExchange16b(ref d); return true;

            case Op.Bt: case Op.Bts: case Op.Btr: case Op.Btc: BitTest(ref d); return true;
            case Op.Bsf: case Op.Bsr:
            {
                int size = d.Size;
                ulong src = Source1(ref d, size);
                if (src == 0)
                {
                    // Destination unchanged, ZF = 1 (SDM: destination undefined; hardware leaves it).
                    _flags |= Flags.ZF;
                    return true;
                }
                ulong index = d.Op == Op.Bsf ? (ulong)BitOperations.TrailingZeroCount(src) : (ulong)(63 - BitOperations.LeadingZeroCount(src));
                SetReg(d.Reg0, size, index);
                _flags &= ~Flags.ZF;
                return true;
            }
            case Op.Lzcnt: case Op.Tzcnt:
            {
                int size = d.Size, bits = size * 8;
                ulong src = Source1(ref d, size);
                ulong r = src == 0 ? (ulong)bits
                    : d.Op == Op.Tzcnt ? (ulong)BitOperations.TrailingZeroCount(src)
                    : (ulong)(BitOperations.LeadingZeroCount(src) - (64 - bits));
                SetReg(d.Reg0, size, r);
                _flags = (_flags & ~(Flags.CF | Flags.ZF)) | (src == 0 ? Flags.CF : 0) | (r == 0 ? Flags.ZF : 0);
                return true;
            }
            case Op.Popcnt:
            {
                int size = d.Size;
                ulong src = Source1(ref d, size);
                SetReg(d.Reg0, size, (ulong)BitOperations.PopCount(src));
                _flags = (_flags & ~Flags.Status) | (src == 0 ? Flags.ZF : 0);
                return true;
            }
            case Op.Bswap:
            {
                int size = d.Size;
                ulong v = _r[d.Reg0];
                SetReg(d.Reg0, size, size == 8 ? BinaryPrimitives.ReverseEndianness(v)
                    : size == 4 ? BinaryPrimitives.ReverseEndianness((uint)v) : 0); // 16-bit: undefined, 0 on Intel
                return true;
            }
            case Op.Movbe:
            {
                int size = d.Size;
                if (d.Kind0 == OperandKind.Register)
                    SetReg(d.Reg0, size, Swap(Read(Ea(ref d), size), size));
                else
                    Write(Ea(ref d), size, Swap(GetReg(d.Reg1, size), size));
                return true;
            }

            case Op.Setcc:
            {
                ulong v = Condition(d.Condition) ? 1UL : 0;
                if (d.Kind0 == OperandKind.Register) SetReg(d.Reg0, 1, v);
                else Write(Ea(ref d), 1, v);
                return true;
            }
            case Op.Cmovcc:
            {
                int size = d.Size;
                ulong src = Source1(ref d, size); // the source is read (and may fault) whatever the condition
                // A 32-bit cmov writes its destination even when false, zero-extending it.
                SetReg(d.Reg0, size, Condition(d.Condition) ? src : GetReg(d.Reg0, size));
                return true;
            }
            case Op.Jcc:
                if (Condition(d.Condition)) Branch(_next + d.Immediate);
                return true;
            case Op.Jmp:
                Branch(d.Kind0 == OperandKind.Branch ? _next + d.Immediate : Source0(ref d, 8));
                return true;
            case Op.Call:
            {
                ulong target = d.Kind0 == OperandKind.Branch ? _next + d.Immediate : Source0(ref d, 8);
                CheckCanonical(target);
                Push(_next, 8);
                _next = target;
                return true;
            }
            case Op.Ret:
            {
                _stackAccess = true;
                ulong target = Read(_r[Rsp], d.Size);
                CheckCanonical(target);
                _r[Rsp] += (ulong)d.Size + (d.Kind0 == OperandKind.Immediate ? d.Immediate & 0xFFFF : 0);
                _next = target;
                return true;
            }
            case Op.Loop: case Op.Loope: case Op.Loopne:
            {
                ulong count = (d.AddressSize32 ? (uint)_r[Rcx] : _r[Rcx]) - 1;
                if (d.AddressSize32) count = (uint)count;
                bool taken = count != 0 && (d.Op == Op.Loop
                                            || (d.Op == Op.Loope) == ((_flags & Flags.ZF) != 0));
                ulong target = _next + d.Immediate;
                if (taken) CheckCanonical(target);
                _r[Rcx] = d.AddressSize32 ? (uint)count : count;
                if (taken) _next = target;
                return true;
            }
            case Op.Jrcxz:
                if ((d.AddressSize32 ? (uint)_r[Rcx] : _r[Rcx]) == 0) Branch(_next + d.Immediate);
                return true;

            case Op.Push:
            {
                int size = d.Size;
                ulong v = d.Kind0 == OperandKind.Immediate ? d.Immediate : Source0(ref d, size);
                Push(v, size);
                return true;
            }
            case Op.Pop:
            {
                int size = d.Size;
                _stackAccess = true;
                ulong sp = _r[Rsp];
                ulong v = Read(sp, size);
                if (d.Kind0 == OperandKind.Register)
                {
                    _r[Rsp] = sp + (ulong)size;
                    SetReg(d.Reg0, size, v); // pop rsp loads the popped value (SDM vol. 2, POP)
                }
                else
                {
                    // An RSP-based destination is computed after the increment (SDM vol. 2, POP).
                    _r[Rsp] = sp + (ulong)size;
                    ulong ea;
                    try { ea = Ea(ref d); Write(ea, size, v); }
                    catch (GuestFault) { _r[Rsp] = sp; throw; }
                }
                return true;
            }
            case Op.Enter: Enter(ref d); return true;
            case Op.Leave:
            {
                int size = d.Size;
                _stackAccess = true;
                ulong v = Read(_r[Rbp], size);
                _r[Rsp] = _r[Rbp] + (ulong)size;
                SetReg(Rbp, size, v);
                return true;
            }
            case Op.Pushf:
                Push(_flags & ~(Flags.RF | Flags.VM), d.Size);
                return true;
            case Op.Popf:
            {
                _stackAccess = true;
                ulong v = Read(_r[Rsp], d.Size);
                _r[Rsp] += d.Size;
                LoadFlags(v, d.Size == 2 ? 0xFFFFUL : ulong.MaxValue, _cpl);
                return true;
            }
            case Op.Lahf:
                SetReg(HighByte | Rax, 1, (_flags & (Flags.SF | Flags.ZF | Flags.AF | Flags.PF | Flags.CF)) | Flags.Fixed1);
                return true;
            case Op.Sahf:
            {
                ulong ah = (_r[Rax] >> 8) & 0xFF;
                const ulong mask = Flags.SF | Flags.ZF | Flags.AF | Flags.PF | Flags.CF;
                _flags = (_flags & ~mask) | (ah & mask);
                return true;
            }
            case Op.Clc: _flags &= ~Flags.CF; return true;
            case Op.Stc: _flags |= Flags.CF; return true;
            case Op.Cmc: _flags ^= Flags.CF; return true;
            case Op.Cld: _flags &= ~Flags.DF; return true;
            case Op.Std: _flags |= Flags.DF; return true;
            case Op.Cli: case Op.Sti:
                // Allowed only when CPL <= IOPL (SDM vol. 2, CLI/STI; no PVI/VME in 64-bit mode).
                if (_cpl > Iopl) RaiseGp0();
                if (d.Op == Op.Cli) _flags &= ~Flags.IF; else _flags |= Flags.IF;
                return true;

            case Op.Movs: case Op.Stos: case Op.Lods: case Op.Cmps: case Op.Scas:
                StringInstruction(ref d);
                return true;

            case Op.Cpuid: CpuidInstruction(); return true;
            case Op.Rdtsc:
            case Op.Rdtscp:
            {
                ulong tsc = _platform.ReadTsc();
                _r[Rax] = (uint)tsc;
                _r[Rdx] = tsc >> 32;
                if (d.Op == Op.Rdtscp) _r[Rcx] = TscAux;
                return true;
            }
            case Op.Syscall:
                // As hardware: RCX <- next RIP, R11 <- RFLAGS; the hypervisor plays the part of LSTAR/FMASK.
                _r[Rcx] = _next;
                _r[11] = _flags;
                _exit = VcpuExit.Syscall;
                return false;
            case Op.Int3:
                _exit = new VcpuExit(VcpuExitReason.SoftwareInterrupt, ExceptionVector.Breakpoint);
                return false;
            case Op.IntN:
                _exit = new VcpuExit(VcpuExitReason.SoftwareInterrupt, (byte)d.Immediate);
                return false;
            case Op.Int1:
                // icebp: a #DB trap, delivered like a hardware exception (no IDT DPL check) with RIP after it.
                _exit = new VcpuExit(VcpuExitReason.Exception, ExceptionVector.Debug);
                return false;
            case Op.Hlt:
            case Op.Privileged:
                if (_cpl > 0) RaiseGp0();
                RaiseUnimplemented(); // ring-0 system state is not modelled: PV guests never run at CPL 0
                return false;
            case Op.In: case Op.Out: case Op.Ins: case Op.Outs:
                PortIo(ref d);
                return true;
            case Op.Iretq: InterruptReturn(); return true;
            case Op.MovToSegment:
                LoadSegment(d.Reg0, (ushort)Source1(ref d, 2));
                return true;
            case Op.PopSegment:
            {
                _stackAccess = true;
                ulong v = Read(_r[Rsp], d.Size);
                LoadSegment(d.Reg0, (ushort)v);
                _r[Rsp] += d.Size;
                return true;
            }

            case Op.SseMov: case Op.SseMovd: case Op.SseMovq: case Op.SseLogic: case Op.Ldmxcsr: case Op.Stmxcsr:
            case Op.SsePackedInt: case Op.SseScalar: case Op.Fxsave: case Op.Fxrstor:
            case Op.SsePackedFloat:
                if (TaskSwitched) RaiseFault(ExceptionVector.DeviceNotAvailable, 0, false); // CR0.TS (SDM vol. 3, 2.5)
                ExecuteSse(ref d);
                return true;
            case Op.SseExtra:
                if (TaskSwitched) RaiseFault(ExceptionVector.DeviceNotAvailable, 0, false);
                ExecuteSseExtra(ref d);
                return true;
            case Op.X87:
                if (TaskSwitched) RaiseFault(ExceptionVector.DeviceNotAvailable, 0, false);
                ExecuteX87(ref d);
                return true;
            case Op.Ud:
                RaiseUd();
                return false;
            default:
                RaiseUnimplemented();
                return false;
        }
    }

    private int Iopl => (int)((_flags >> 12) & 3);

    private static ulong Swap(ulong v, int size) => size switch
    {
        2 => BinaryPrimitives.ReverseEndianness((ushort)v),
        4 => BinaryPrimitives.ReverseEndianness((uint)v),
        _ => BinaryPrimitives.ReverseEndianness(v),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Branch(ulong target)
    {
        CheckCanonical(target);
        _next = target;
    }

    /// <summary>
    /// popf/iret flag load (SDM vol. 2, POPF, protected mode): RF cleared; VM, VIP, VIF and reserved bits kept;
    /// IOPL only at CPL 0; IF only when CPL &lt;= IOPL.
    /// </summary>
    private void LoadFlags(ulong value, ulong sizeMask, int cpl)
    {
        ulong writable = Flags.Status | Flags.TF | Flags.DF | Flags.NT | Flags.AC | Flags.ID;
        if (cpl <= Iopl) writable |= Flags.IF;
        if (cpl == 0) writable |= Flags.IOPL;
        writable &= sizeMask;
        ulong before = _flags;
        _flags = ((_flags & ~writable) | (value & writable) | Flags.Fixed1) & ~Flags.RF;
        // Setting TF or AC takes effect from the next instruction: leave the block so the loop sees it.
        if (((before ^ _flags) & (Flags.TF | Flags.AC)) != 0) _endBlock = true;
    }
}
