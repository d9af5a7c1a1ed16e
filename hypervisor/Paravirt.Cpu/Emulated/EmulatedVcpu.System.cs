using System.Numerics;
using System.Runtime.CompilerServices;
using static Paravirt.Cpu.Emulated.DecodedInstruction;

namespace Paravirt.Cpu.Emulated;

/// <summary>Stack frames, CPUID, segment loads, port I/O and iretq: the instructions that touch system state.</summary>
public sealed unsafe partial class EmulatedVcpu
{
    /// <summary>enter imm16, imm8 (SDM vol. 2, ENTER), nesting level taken modulo 32.</summary>
    private void Enter(ref DecodedInstruction d)
    {
        int size = d.Size;
        ulong alloc = d.Immediate & 0xFFFF;
        int level = d.Immediate2 & 31;
        _stackAccess = true;
        ulong sp = _r[Rsp] - (ulong)size;
        ulong bp = _r[Rbp];
        Write(sp, size, bp);
        ulong frame = sp;
        for (int i = 1; i < level; i++)
        {
            bp -= (ulong)size;
            ulong v = Read(bp, size);
            sp -= (ulong)size;
            Write(sp, size, v);
        }
        if (level > 0)
        {
            sp -= (ulong)size;
            Write(sp, size, frame);
        }
        SetReg(Rbp, size, frame);
        _r[Rsp] = sp - alloc;
    }

    private void CpuidInstruction()
    {
        uint leaf = (uint)_r[Rax], subleaf = (uint)_r[Rcx];
        var cpuid = Cpuid;
        var (a, b, c, dx) = cpuid != null ? cpuid(leaf, subleaf) : MinimalCpuid.Query(leaf, subleaf);
        _r[Rax] = a;
        _r[Rbx] = b;
        _r[Rcx] = c;
        _r[Rdx] = dx;
    }

    public DescriptorLookup? Descriptors { get; set; }

    public bool TaskSwitched { get; set; }

    /// <summary>
    /// Segment register load in 64-bit mode (SDM vol. 2, MOV and POP, "64-Bit Mode Exceptions"; vol. 3, 5.5-5.7).
    /// Null selectors are valid for DS, ES, FS and GS at any CPL; loading one into FS or GS clears the base as
    /// Intel parts do (we report GenuineIntel). Other selectors are looked up in the descriptor tables the
    /// hypervisor supplies (<see cref="Descriptors"/>; none: every lookup fails) and checked as the SDM says:
    /// beyond the limit, a system descriptor, the wrong type or privilege give #GP(selector), not present #NP
    /// (#SS for SS). FS and GS take the descriptor's 32-bit base. Loading CS is #UD.
    /// </summary>
    private void LoadSegment(byte seg, ushort selector)
    {
        const byte es = 0, cs = 1, ss = 2, ds = 3, fs = 4;
        if (seg == cs) RaiseUd();
        var r = Registers;
        uint index = (uint)(selector & 0xFFFC);
        if (index == 0)
        {
            if (seg == ss) RaiseGp0();
            switch (seg)
            {
                case es: r.Es = selector; break;
                case ds: r.Ds = selector; break;
                case fs: r.Fs = selector; r.FsBase = 0; break;
                default: r.Gs = selector; r.GsBase = 0; break;
            }
            return;
        }
        ulong desc = 0;
        var lookup = Descriptors;
        if (lookup == null || !lookup(selector, out desc)) RaiseFault(ExceptionVector.GeneralProtection, index);
        uint high = (uint)(desc >> 32);
        bool system = (high & (1u << 12)) == 0, code = (high & (1u << 11)) != 0;
        bool writableOrReadable = (high & (1u << 9)) != 0, conforming = code && (high & (1u << 10)) != 0;
        bool present = (high & (1u << 15)) != 0;
        int dpl = (int)((high >> 13) & 3), rpl = selector & 3;
        if (system) RaiseFault(ExceptionVector.GeneralProtection, index);
        if (seg == ss)
        {
            if (code || !writableOrReadable || rpl != _cpl || dpl != _cpl) RaiseFault(ExceptionVector.GeneralProtection, index);
            if (!present) RaiseFault(ExceptionVector.StackFault, index);
            r.Ss = selector;
            return;
        }
        if (code && !writableOrReadable) RaiseFault(ExceptionVector.GeneralProtection, index);
        if (!conforming && (rpl > dpl || _cpl > dpl)) RaiseFault(ExceptionVector.GeneralProtection, index);
        if (!present) RaiseFault(ExceptionVector.SegmentNotPresent, index);
        ulong low = (uint)desc;
        ulong baseAddress = (low >> 16) | ((ulong)(high & 0xFF) << 16) | (high & 0xFF00_0000UL);
        switch (seg)
        {
            case es: r.Es = selector; break;
            case ds: r.Ds = selector; break;
            case fs: r.Fs = selector; r.FsBase = baseAddress; break;
            default: r.Gs = selector; r.GsBase = baseAddress; break;
        }
    }

    /// <summary>
    /// Port I/O. There is no TSS I/O bitmap here, so at CPL &gt; IOPL every port is denied: #GP(0) (SDM vol. 1,
    /// 19.5). With permission no device answers: reads see all ones (a floating bus), writes vanish.
    /// </summary>
    private void PortIo(ref DecodedInstruction d)
    {
        if (_cpl > Iopl) RaiseGp0();
        if (d.Op == Op.In) SetReg(d.Reg0, d.Size, ulong.MaxValue);
        else if (d.Op != Op.Out) RaiseUnimplemented();
    }

    /// <summary>
    /// iretq (SDM vol. 2, IRET, IA-32e mode): pops RIP, CS, RFLAGS, RSP, SS. Returning to a more privileged level
    /// than the current one is a #GP(selector). Descriptor tables are not modelled, so the selectors are taken
    /// as given; the flags load follows the popf rules of the current CPL.
    /// </summary>
    private void InterruptReturn()
    {
        _stackAccess = true;
        ulong sp = _r[Rsp];
        ulong rip = Read(sp, 8), cs = Read(sp + 8, 8) & 0xFFFF, rflags = Read(sp + 16, 8);
        ulong rsp = Read(sp + 24, 8), ss = Read(sp + 32, 8) & 0xFFFF;
        int newCpl = (int)(cs & 3);
        if (newCpl < _cpl || (cs & ~3UL) == 0) RaiseFault(ExceptionVector.GeneralProtection, (uint)(cs & ~3UL));
        CheckCanonical(rip);
        LoadFlags(rflags, ulong.MaxValue, _cpl);
        Registers.Cs = (ushort)cs;
        Registers.Ss = (ushort)ss;
        _r[Rsp] = rsp;
        _next = rip;
        SetCpl(newCpl);
    }
}
