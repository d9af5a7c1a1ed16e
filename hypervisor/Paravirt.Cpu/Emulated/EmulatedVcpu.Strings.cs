using System.Runtime.CompilerServices;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// movs/stos/lods/cmps/scas with rep/repe/repne (SDM vol. 2, REP/REPE/REPNE and each string instruction).
/// Every iteration commits RSI/RDI/RCX, so a fault mid-way leaves a restartable state with RIP at the
/// instruction, as on hardware. Long repeats yield to a kick between iterations, and stop after an iteration
/// that hit a data breakpoint or was single-stepped (EmulatedVcpu.DataBreakpoints.cs).
/// </summary>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>Iterations between kick checks in a repeated string instruction.</summary>
    private const int StringKickInterval = 4096;

    private void StringInstruction(ref DecodedInstruction d)
    {
        bool repeated = d.Rep || d.Repne;
        if (!repeated)
        {
            StringStep(ref d);
            return;
        }
        ulong addressMask = d.AddressSize32 ? 0xFFFF_FFFFUL : ulong.MaxValue;
        // cmps/scas stop on ZF: repe (F3) while equal, repne (F2) while not equal. movs/stos/lods take F2 as rep.
        bool conditional = d.Op is Op.Cmps or Op.Scas;
        int sinceKick = 0;
        while ((_r[Rcx] & addressMask) != 0)
        {
            if (!conditional && (_eflags & Flags.DF) == 0 && (d.Op == Op.Movs || d.Op == Op.Stos))
            {
                if (!StringBulk(ref d, addressMask)) StringStep(ref d);
            }
            else
            {
                StringStep(ref d);
            }
            SetCount(d.AddressSize32, (_r[Rcx] - 1) & addressMask);
            if (conditional && ((_flags & Flags.ZF) != 0) == d.Repne) break;
            if ((_dataHits != 0 || _stepIterations) && (_r[Rcx] & addressMask) != 0)
            {
                // A data breakpoint traps after the iteration that hit (SDM vol. 3, 18.3.1.2), a single-step after
                // every iteration: stop here with RIP at the instruction, as for a kick; StepBlock raises the #DB.
                _next = _rip;
                _endBlock = true;
                return;
            }
            if (++sinceKick >= StringKickInterval && KickPending && (_r[Rcx] & addressMask) != 0)
            {
                // Stop between iterations with RIP still at the instruction; it resumes where it left off.
                _next = _rip;
                _endBlock = true;
                return;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetCount(bool address32, ulong value)
    {
        _r[Rcx] = address32 ? (uint)value : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong SourceSegmentBase(ref DecodedInstruction d) => d.MemSegment switch
    {
        SegFs => Registers.FsBase,
        SegGs => Registers.GsBase,
        _ => 0,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Advance(int reg, int size, bool address32)
    {
        ulong step = (_eflags & Flags.DF) != 0 ? (ulong)-size : (ulong)size;
        ulong v = _r[reg] + step;
        _r[reg] = address32 ? (uint)v : v;
    }

    /// <summary>One iteration, without the count.</summary>
    private void StringStep(ref DecodedInstruction d)
    {
        int size = d.Size;
        bool a32 = d.AddressSize32;
        ulong rsi = a32 ? (uint)_r[Rsi] : _r[Rsi];
        ulong rdi = a32 ? (uint)_r[Rdi] : _r[Rdi];
        _stackAccess = false;
        switch (d.Op)
        {
            case Op.Movs:
            {
                ulong v = Read(SourceSegmentBase(ref d) + rsi, size);
                Write(rdi, size, v); // ES has base 0 in 64-bit mode and cannot be overridden
                Advance(Rsi, size, a32);
                Advance(Rdi, size, a32);
                break;
            }
            case Op.Stos:
                Write(rdi, size, _r[Rax]);
                Advance(Rdi, size, a32);
                break;
            case Op.Lods:
            {
                ulong v = Read(SourceSegmentBase(ref d) + rsi, size);
                SetReg(Rax, size, v);
                Advance(Rsi, size, a32);
                break;
            }
            case Op.Cmps:
            {
                ulong a = Read(SourceSegmentBase(ref d) + rsi, size);
                ulong b = Read(rdi, size);
                ulong f = _flags;
                Alu.Sub(a, b, 0, size, ref f);
                _flags = f;
                Advance(Rsi, size, a32);
                Advance(Rdi, size, a32);
                break;
            }
            default: // Scas
            {
                ulong b = Read(rdi, size);
                ulong f = _flags;
                Alu.Sub(_r[Rax], b, 0, size, ref f);
                _flags = f;
                Advance(Rdi, size, a32);
                break;
            }
        }
    }

    /// <summary>
    /// Forward rep movs/stos over as many whole elements as fit in the current source and destination pages,
    /// with host block operations. Performs the work of all those iterations but the last, which the caller's
    /// loop accounts for (returns false when a bulk step is not worth it or not equivalent to element order).
    /// </summary>
    private bool StringBulk(ref DecodedInstruction d, ulong addressMask)
    {
        int size = d.Size;
        ulong count = _r[Rcx] & addressMask;
        // With a data breakpoint enabled every element goes through Read/Write, which compare it with the ranges;
        // a single-stepped one runs one element at a time.
        if (count < 2 || _dataBreakpoints != 0 || _stepIterations) return false;
        ulong rdi = _r[Rdi] & addressMask;
        ulong dstRoom = (4096 - (rdi & 0xFFF)) / (ulong)size;
        ulong n = Math.Min(count, dstRoom);
        ulong src = 0, srcRoom;
        if (d.Op == Op.Movs)
        {
            src = SourceSegmentBase(ref d) + (_r[Rsi] & addressMask);
            srcRoom = (4096 - (src & 0xFFF)) / (ulong)size;
            n = Math.Min(n, srcRoom);
        }
        // Alignment-checked elements all share the first one's misalignment: a misaligned one faults in the
        // element loop, aligned ones may be moved in bulk.
        if (((rdi | src) & (ulong)(size - 1) & _alignMask) != 0) return false;
        n = Math.Min(n, StringKickInterval);
        if (n < 2 || (d.AddressSize32 && (rdi + n * (ulong)size > 0x1_0000_0000UL
                                          || (_r[Rsi] & addressMask) + n * (ulong)size > 0x1_0000_0000UL))) return false;
        ulong bytes = n * (ulong)size;
        _stackAccess = false;
        byte* dst;
        if (d.Op == Op.Movs)
        {
            byte* from = ReadPointer(src);
            dst = WritePointer(rdi);
            // Element order matters when the destination overlaps the source ahead of it (pattern fill).
            if (dst > from && dst < from + bytes) return false;
            Buffer.MemoryCopy(from, dst, bytes, bytes);
            Advance(Rsi, (int)bytes, d.AddressSize32);
        }
        else
        {
            dst = WritePointer(rdi);
            ulong v = _r[Rax];
            switch (size)
            {
                case 1: Unsafe.InitBlockUnaligned(dst, (byte)v, (uint)bytes); break;
                case 2: new Span<ushort>(dst, (int)n).Fill((ushort)v); break;
                case 4: new Span<uint>(dst, (int)n).Fill((uint)v); break;
                default: new Span<ulong>(dst, (int)n).Fill(v); break;
            }
        }
        NoteStore(dst);
        Advance(Rdi, (int)bytes, d.AddressSize32);
        // The caller decrements RCX once for this step.
        _r[Rcx] = d.AddressSize32 ? (uint)(_r[Rcx] - (n - 1)) : _r[Rcx] - (n - 1);
        return true;
    }
}
