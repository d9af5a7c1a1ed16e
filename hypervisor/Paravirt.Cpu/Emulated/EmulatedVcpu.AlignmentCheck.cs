using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// Alignment checking (SDM vol. 3, 6.15 "Interrupt 17—Alignment Check Exception"; vol. 1, 4.1.1; AMD APM vol. 2,
/// 8.2.18): with CR0.AM (<see cref="AlignmentMask"/>) and EFLAGS.AC set, a data access made at CPL 3 whose address
/// is not a multiple of its operand's alignment raises #AC(0), a fault: RIP at the instruction, nothing written.
/// The alignment is the operand size for 2-, 4- and 8-byte operands (integer, x87 m16/m32/m64, SSE scalar m32/m64,
/// ldmxcsr/stmxcsr, stack pushes and pops, string elements, locked and unlocked read-modify-writes, cmpxchg8b,
/// indirect branch targets), 8 for an x87 80-bit operand and 16 for every 128-bit SSE operand, the unaligned
/// forms (movups, movdqu, lddqu) included. Forms that require alignment anyway (movaps and the legacy SSE m128
/// arithmetic, fxsave/fxrstor, cmpxchg16b) raise #GP(0) before #AC is considered. #AC is checked before the
/// access is translated, so a misaligned access to a not-present page is #AC, not #PF. Byte accesses and
/// accesses that are not data reads or writes (lea, prefetch, clflush, instruction fetch, page-table walks) are
/// never checked. All of this is what the reference host (AMD EPYC) does at CPL 3 with AC set; see docs/cpu.md.
/// </summary>
/// <remarks>
/// Mechanism, the same as data breakpoints (EmulatedVcpu.DataBreakpoints.cs): while EFLAGS.AC is set,
/// <see cref="Run"/> steps one instruction at a time (<see cref="StepBlock"/>), which sets
/// <see cref="_alignMask"/> for each instruction that runs at CPL 3 under CR0.AM; the data TLB is emptied once when
/// checking starts and caches nothing while it is on, so every access reaches the slow paths (<see cref="ReadSlow"/>,
/// <see cref="WriteSlow"/>, <see cref="AtomicPointer"/>, <see cref="ProbeWritable"/>) that test the address. An
/// operand wider than 8 bytes is checked as a whole by the handler before its first part (<see cref="ProbeWritable"/>
/// and the SSE operand helpers), so a misaligned store writes nothing. popf and iretq end the block when they change
/// AC, so the mode switches at the next instruction. With AC clear none of this runs: the inline TLB paths are
/// unchanged and each slow path tests one more field.
/// </remarks>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>All ones while the executing instruction is alignment-checked, else 0: an address is misaligned
    /// for an alignment <c>a</c> when <c>va &amp; (a - 1) &amp; _alignMask</c> is nonzero.</summary>
    private ulong _alignMask;

    /// <summary>The data TLB has cached nothing since it was last emptied for alignment checking.</summary>
    private bool _dataTlbEmpty;

    /// <summary>
    /// CR0.AM as the guest sees it: alignment checking is enabled at CPL 3 when EFLAGS.AC is set too. True by
    /// default, as in the CR0 of a Xen PV guest (0x80050033). Between runs, like the other register loads.
    /// </summary>
    public bool AlignmentMask { get; set; } = true;

    /// <summary>Set <see cref="_alignMask"/> for the instruction about to run (called by <see cref="StepBlock"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void BeginAlignmentChecks()
    {
        if ((_eflags & Flags.AC) != 0 && _cpl == 3 && AlignmentMask)
        {
            if (!_dataTlbEmpty) EmptyDataTlb();
            _alignMask = ulong.MaxValue;
        }
        else
        {
            _alignMask = 0;
        }
    }

    /// <summary>Drop every data translation (the instruction TLB is kept: fetches are never checked).</summary>
    private void EmptyDataTlb()
    {
        for (int i = 0; i < TlbSize; i++) _tlb[i].ReadTag = _tlb[i].WriteTag = TlbInvalid;
        _dataTlbEmpty = true;
    }

    /// <summary>#AC(0) when alignment checking is on and <paramref name="va"/> is not a multiple of
    /// <paramref name="alignment"/> (a power of two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckAlignment(ulong va, int alignment)
    {
        if ((va & (ulong)(alignment - 1) & _alignMask) != 0) RaiseAlignmentCheck();
    }

    /// <summary>Alignment of an operand of <paramref name="length"/> bytes: 1, 2, 4 and 8 are their own, an x87
    /// 80-bit operand is 8, anything of 16 bytes or more is 16 (SDM vol. 3, table "Alignment Requirements by Data
    /// Type"; 16 for 128-bit operands as the host applies it to movups/movdqu).</summary>
    private static int OperandAlignment(int length) => length switch
    {
        1 or 2 or 4 or 8 => length,
        10 => 8,
        < 16 => 1,
        _ => 16,
    };

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseAlignmentCheck() => RaiseFault(ExceptionVector.AlignmentCheck, 0, true);
}
