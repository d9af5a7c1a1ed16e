namespace Paravirt.Cpu.Emulated;

/// <summary>
/// The MOV SS / POP SS shadow for debug exceptions (SDM vol. 3, 6.8.3 "Masking Exceptions and Interrupts When
/// Switching Stacks"; 18.3.1.2 and 18.3.1.4): debug exceptions an instruction loading SS raises (a data breakpoint
/// on its own operand, a single-step trap) are held until the end of the next instruction and then reported with
/// that instruction's own, in one #DB after it. When the next instruction leaves guest context instead (syscall,
/// a software interrupt, a fault, anything that exits to the hypervisor), the held #DB would be taken by the
/// hypervisor on its entry path, not by the guest: Xen discards it there (the XSA-260 fix), so it is dropped
/// here. Only the stepped path (<see cref="StepBlock"/>) can raise debug exceptions, so only it keeps the shadow.
/// </summary>
public sealed unsafe partial class EmulatedVcpu
{
    private const byte SegmentSs = 2;

    /// <summary>The previous instruction loaded SS: this one runs in its shadow.</summary>
    private bool _ssShadow;
    /// <summary>DR6 bits (B0-B3, BS) held back by the shadow, reported after the shadowed instruction.</summary>
    private ulong _ssShadowStatus;

    private static bool LoadsSs(ref DecodedInstruction d) =>
        d.Op is Op.MovToSegment or Op.PopSegment && d.Reg0 == SegmentSs;

    /// <summary>
    /// After an instruction retired in <see cref="StepBlock"/> with debug status <paramref name="status"/>: returns
    /// the status to report now. An SS load opens the shadow and reports nothing; the instruction after it reports
    /// the held bits with its own.
    /// </summary>
    private ulong ApplySsShadow(ref DecodedInstruction d, ulong status)
    {
        if (_ssShadow)
        {
            _ssShadow = false;
            status |= _ssShadowStatus;
            _ssShadowStatus = 0;
            return status;
        }
        if (LoadsSs(ref d))
        {
            _ssShadow = true;
            _ssShadowStatus = status;
            return 0;
        }
        return status;
    }

    /// <summary>The instruction in the shadow left guest context (an exit): the held #DB goes with it.</summary>
    private void DropSsShadow()
    {
        _ssShadow = false;
        _ssShadowStatus = 0;
    }
}
