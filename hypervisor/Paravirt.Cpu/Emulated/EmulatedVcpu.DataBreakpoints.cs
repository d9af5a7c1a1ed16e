using System.Runtime.CompilerServices;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// Debug-register data breakpoints (SDM vol. 3, 18.2.4, 18.2.5 and 18.3.1.2): R/W = 01 breaks on data writes,
/// R/W = 11 on data reads or writes. LENn gives the range (00 = 1 byte, 01 = 2, 11 = 4, 10 = 8) and the range is
/// aligned to it: DRn's low address bits are ignored. An access hits when any byte it touches lies in the range,
/// so an unaligned or page-straddling access is compared by byte-range overlap. A hit is a trap: the instruction
/// completes, then <see cref="Run"/> exits with #DB, RIP after the instruction and B0-B3 in
/// <see cref="DebugStatus"/> for every enabled data breakpoint it hit (with BS too when TF single-steps the same
/// instruction: both traps are reported by one #DB). A repeated string instruction traps after the iteration that
/// hit, with RCX/RSI/RDI counting the completed iterations and RIP still at the instruction when iterations remain.
/// </summary>
/// <remarks>
/// <para>
/// Mechanism: while a data breakpoint is enabled, <see cref="Run"/> steps one instruction at a time
/// (<see cref="StepBlock"/>), and the data TLB never caches a translation for a linear page holding an enabled
/// range (a range is at most 8 bytes and aligned, so it lies in one page). Every access to such a page therefore
/// misses the inline TLB check and reaches the slow paths (<see cref="ReadSlow"/>, <see cref="WriteSlow"/>), which
/// compare the access with the enabled ranges and collect hit bits; <see cref="StepBlock"/> turns them into the
/// trap once the instruction has retired. Accesses through host pointers (locked read-modify-write and the
/// compare-exchanges, fxrstor's image) are compared where the pointer is taken, and the bulk path of
/// rep movs/stos is not used. With no data breakpoint enabled none of this runs: the inline TLB hit paths are
/// unchanged and each slow path tests one field.
/// </para>
/// <para>
/// What counts: every data access the instruction makes, explicit or implicit (push/pop, call/ret, iretq's frame,
/// string operands, x87/SSE memory operands, fxsave/fxrstor). A read-modify-write (including xchg, cmpxchg even when
/// the comparison fails, as hardware writes the old value back) is a write. Page-table walks and the A/D-bit updates
/// they make are not data accesses and never hit; nor are the segment-descriptor reads, which go to the
/// hypervisor's tables through <see cref="IVcpu.Descriptors"/> rather than guest linear addresses. Translation
/// probes made so that a multi-part store faults before it starts are not accesses either. An instruction that
/// faults reports no data breakpoint (its hits are dropped with it).
/// </para>
/// </remarks>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>Bit n set when breakpoint n is an enabled data breakpoint (R/W = 01 or 11).</summary>
    private int _dataBreakpoints;
    /// <summary>Bit n set when data breakpoint n breaks on writes only (R/W = 01).</summary>
    private int _dataWriteOnly;
    /// <summary>Execute and data breakpoints together: <see cref="Run"/> steps while this is nonzero.</summary>
    private int _anyBreakpoints;
    /// <summary>Aligned start and length of each breakpoint's data range (valid where <see cref="_dataBreakpoints"/>
    /// has the bit).</summary>
    private readonly ulong[] _dataRangeStart = new ulong[4], _dataRangeLength = new ulong[4];
    /// <summary>B0-B3 bits of the data breakpoints the executing instruction has hit so far.</summary>
    private ulong _dataHits;
    /// <summary>The executing instruction is single-stepped (TF): a repeated string instruction stops after one
    /// iteration, as the single-step trap follows each iteration.</summary>
    private bool _stepIterations;

    private static bool IsRepeatedString(ref DecodedInstruction d) =>
        (d.Rep || d.Repne) && d.Op is Op.Movs or Op.Stos or Op.Lods or Op.Cmps or Op.Scas;

    /// <summary>Byte length of a data breakpoint from its LEN field (SDM vol. 3, 18.2.4: 10 = 8 bytes).</summary>
    private static ulong DataBreakpointLength(ulong len) => len switch { 0 => 1, 1 => 2, 2 => 8, _ => 4 };

    /// <summary>Take the data-breakpoint fields of DR0-DR3/DR7 (called by <see cref="SetDebugRegisters"/>).</summary>
    private void LoadDataBreakpoints(ReadOnlySpan<ulong> dr, ulong dr7)
    {
        int data = 0, writeOnly = 0;
        for (int i = 0; i < 4; i++)
        {
            bool enabled = ((dr7 >> (2 * i)) & 3) != 0;
            ulong rw = (dr7 >> (16 + 4 * i)) & 3;
            if (!enabled || (rw != 1 && rw != 3)) continue; // 00: execute; 10: I/O (not modelled)
            ulong length = DataBreakpointLength((dr7 >> (18 + 4 * i)) & 3);
            _dataRangeStart[i] = dr[i] & ~(length - 1);
            _dataRangeLength[i] = length;
            data |= 1 << i;
            if (rw == 1) writeOnly |= 1 << i;
        }
        _dataBreakpoints = data;
        _dataWriteOnly = writeOnly;
        _dataHits = 0;
        if (data == 0 || _tlb == null) return;
        // Pages that now hold a range must miss in the data TLB from here on. Pages that held one before were
        // never cached while they did, so releasing them needs nothing.
        if (!IsOwnerThreadOrIdle)
        {
            FlushTlb();
            return;
        }
        for (int i = 0; i < 4; i++)
        {
            if ((data & (1 << i)) == 0) continue;
            int index = (int)(_dataRangeStart[i] >> 12) & (TlbSize - 1);
            _tlb[index].ReadTag = _tlb[index].WriteTag = TlbInvalid;
        }
    }

    /// <summary>The linear page of <paramref name="va"/> holds an enabled data-breakpoint range: the data TLB must
    /// not cache it (see <see cref="Fill"/>).</summary>
    private bool IsWatchedPage(ulong va)
    {
        int m = _dataBreakpoints;
        ulong page = va & ~0xFFFUL;
        for (int i = 0; i < 4; i++)
        {
            if ((m & (1 << i)) != 0 && (_dataRangeStart[i] & ~0xFFFUL) == page) return true;
        }
        return false;
    }

    /// <summary>
    /// Record the data breakpoints hit by an access of <paramref name="length"/> bytes at <paramref name="va"/>.
    /// Callers test <see cref="_dataBreakpoints"/> first. The comparison wraps modulo 2^64 like linear addresses.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NoteDataAccess(ulong va, ulong length, bool write)
    {
        int m = _dataBreakpoints;
        if (!write) m &= ~_dataWriteOnly;
        for (int i = 0; i < 4; i++)
        {
            if ((m & (1 << i)) == 0) continue;
            ulong start = _dataRangeStart[i];
            // Two byte ranges overlap when either one's start lies inside the other.
            if (va - start < _dataRangeLength[i] || start - va < length) _dataHits |= 1UL << i;
        }
    }
}
