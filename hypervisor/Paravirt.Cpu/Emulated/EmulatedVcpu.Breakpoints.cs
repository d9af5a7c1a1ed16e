namespace Paravirt.Cpu.Emulated;

/// <summary>
/// Debug-register instruction breakpoints (SDM vol. 3, 18.2 and 18.3.1.1); data breakpoints are in
/// EmulatedVcpu.DataBreakpoints.cs. While DR7 enables an execute or data breakpoint (Ln or Gn set; R/W = 00 for
/// execute), <see cref="Run"/> executes one instruction at a time through the
/// <see cref="Execute"/> switch and compares each instruction's linear address with DR0-DR3 before it runs: a match
/// is a fault (#DB with RIP at the instruction, nothing executed). The decoded-block cache is left as it is, so a
/// breakpoint set or cleared after its code was decoded needs no invalidation; with no execute breakpoint enabled
/// the fast path pays one flag test per block. EFLAGS.RF set when <see cref="Run"/> starts (the guest's iret
/// frame) suppresses the instruction breakpoint for the first instruction, as after an iret with RF on hardware.
/// </summary>
/// <remarks>
/// DR6 as reported in <see cref="DebugStatus"/>: B0-B3 for each enabled execute breakpoint matching the
/// instruction, or for each enabled data breakpoint the instruction hit (the SDM lets hardware also set Bn for a
/// matching disabled one; this vCPU does not), BS (bit 14) for a single-step trap, together with the data B bits
/// when both trap on the same instruction. I/O breakpoints (R/W = 10) are not raised by this vCPU.
/// </remarks>
public sealed unsafe partial class EmulatedVcpu
{
    private const ulong Dr6SingleStep = 1UL << 14;

    private ulong _bp0, _bp1, _bp2, _bp3;
    /// <summary>Bit n set when breakpoint n is enabled as an execute breakpoint.</summary>
    private int _execBreakpoints;
    /// <summary>RF was set when the run started: the first instruction takes no instruction breakpoint.</summary>
    private bool _resumeFlag;

    /// <summary>DR6 status bits of the last #DB exit this vCPU raised (B0-B3, BS); 0 for other exits.</summary>
    public ulong DebugStatus { get; private set; }

    /// <summary>Load DR0-DR3 and DR7 (the enable, R/W and, for data breakpoints, LEN fields; see the class
    /// remarks). Between runs, like the other register loads.</summary>
    public void SetDebugRegisters(ulong dr0, ulong dr1, ulong dr2, ulong dr3, ulong dr7)
    {
        _bp0 = dr0;
        _bp1 = dr1;
        _bp2 = dr2;
        _bp3 = dr3;
        int mask = 0;
        for (int i = 0; i < 4; i++)
        {
            bool enabled = ((dr7 >> (2 * i)) & 3) != 0;
            bool execute = ((dr7 >> (16 + 4 * i)) & 3) == 0;
            if (enabled && execute) mask |= 1 << i;
        }
        _execBreakpoints = mask;
        LoadDataBreakpoints([dr0, dr1, dr2, dr3], dr7);
        _anyBreakpoints = mask | (_dataBreakpoints << 4);
    }

    private ulong ExecBreakpointHits(ulong rip)
    {
        int m = _execBreakpoints;
        ulong hits = 0;
        if ((m & 1) != 0 && _bp0 == rip) hits |= 1;
        if ((m & 2) != 0 && _bp1 == rip) hits |= 2;
        if ((m & 4) != 0 && _bp2 == rip) hits |= 4;
        if ((m & 8) != 0 && _bp3 == rip) hits |= 8;
        return hits;
    }

    /// <summary>
    /// Run <paramref name="block"/> one instruction at a time (single-step or an enabled breakpoint).
    /// Returns true to leave <see cref="Run"/> with <paramref name="exit"/>; false to go on with the next block.
    /// </summary>
    private bool StepBlock(CodeBlock block, ref ulong retired, out VcpuExit exit)
    {
        var code = block.Instructions;
        for (int i = 0; i < code.Length; i++)
        {
            if (_execBreakpoints != 0 && !_resumeFlag && ExecBreakpointHits(_rip) is var hits and not 0)
            {
                // A fault: RIP stays at the instruction, which has not run.
                DebugStatus = hits;
                exit = new VcpuExit(VcpuExitReason.Exception, ExceptionVector.Debug);
                return true;
            }
            _resumeFlag = false;
            bool step = (_eflags & Flags.TF) != 0;
            ref var d = ref code[i];
            _next = _rip + d.Length;
            _endBlock = false;
            _dataHits = 0; // the hits of an instruction that faulted went with it
            _stepIterations = step;
            BeginAlignmentChecks();
            ulong start = _rip;
            // The switch, not the handler: a handler goes on with the rest of the block, and a fused
            // compare-and-branch would run two instructions.
            bool continued = Execute(ref d);
            _stepIterations = false;
            _alignMask = 0;
            retired++;
            _rip = _next;
            if (!continued)
            {
                _endBlock = false;
                DropSsShadow();
                exit = _exit;
                return true;
            }
            // Single-step (SDM vol. 3, 18.3.1.4): TF set before an instruction traps #DB after it. Data breakpoints
            // (18.3.1.2) trap after the instruction. Both report in one #DB. A repeated string instruction traps
            // after each iteration when single-stepped, or after the iteration that hit a data breakpoint.
            ulong status = ApplySsShadow(ref d, _dataHits | (step ? Dr6SingleStep : 0));
            _dataHits = 0;
            if (status != 0)
            {
                _endBlock = false;
                _dataHits = 0;
                // Iterations remain (RIP still at the instruction): the EFLAGS image of a trap taken after any
                // iteration but the last has RF set (SDM vol. 3, 18.3.1.1), so resuming it takes no instruction
                // breakpoint.
                if (_rip == start && IsRepeatedString(ref d)) _eflags |= Flags.RF;
                DebugStatus = status;
                exit = new VcpuExit(VcpuExitReason.Exception, ExceptionVector.Debug);
                return true;
            }
            if (_endBlock)
            {
                _endBlock = false;
                break;
            }
        }
        exit = default;
        return false;
    }
}
