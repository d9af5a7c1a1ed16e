namespace Paravirt.Cpu;

/// <summary>General-purpose register numbers, in the x86 encoding order.</summary>
public enum Gpr
{
    Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7,
    R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15,
}

/// <summary>
/// Architectural register state of one vCPU that the hypervisor reads and writes between runs.
/// The platform owns any further state (FPU/SSE, TLB, decode caches).
/// </summary>
public sealed class VcpuRegisters
{
    public const ulong RflagsFixed = 1UL << 1;
    public const ulong RflagsIf = 1UL << 9;

    private readonly ulong[] _gpr = new ulong[16];

    public ulong this[Gpr r] { get => _gpr[(int)r]; set => _gpr[(int)r] = value; }

    /// <summary>Direct access for the CPU's hot path.</summary>
    public ulong[] Gprs => _gpr;

    public ulong Rax { get => _gpr[0]; set => _gpr[0] = value; }
    public ulong Rcx { get => _gpr[1]; set => _gpr[1] = value; }
    public ulong Rdx { get => _gpr[2]; set => _gpr[2] = value; }
    public ulong Rbx { get => _gpr[3]; set => _gpr[3] = value; }
    public ulong Rsp { get => _gpr[4]; set => _gpr[4] = value; }
    public ulong Rbp { get => _gpr[5]; set => _gpr[5] = value; }
    public ulong Rsi { get => _gpr[6]; set => _gpr[6] = value; }
    public ulong Rdi { get => _gpr[7]; set => _gpr[7] = value; }
    public ulong R8 { get => _gpr[8]; set => _gpr[8] = value; }
    public ulong R9 { get => _gpr[9]; set => _gpr[9] = value; }
    public ulong R10 { get => _gpr[10]; set => _gpr[10] = value; }
    public ulong R11 { get => _gpr[11]; set => _gpr[11] = value; }
    public ulong R12 { get => _gpr[12]; set => _gpr[12] = value; }
    public ulong R13 { get => _gpr[13]; set => _gpr[13] = value; }
    public ulong R14 { get => _gpr[14]; set => _gpr[14] = value; }
    public ulong R15 { get => _gpr[15]; set => _gpr[15] = value; }

    public ulong Rip;
    public ulong Rflags = RflagsFixed;

    /// <summary>Machine address of the active L4 page table (CR3 bits 12..51).</summary>
    public ulong Cr3;
    /// <summary>Linear address of the last page fault.</summary>
    public ulong Cr2;

    public ushort Cs, Ss, Ds, Es, Fs, Gs;
    public ulong FsBase, GsBase, KernelGsBase;

    /// <summary>Power-on MXCSR: all exceptions masked, round to nearest (SDM vol. 1, 10.2.3.2).</summary>
    public const uint MxcsrDefault = 0x1F80;

    /// <summary>XMM0..XMM15, two little-endian quadwords each: low half at 2n, high half at 2n + 1.</summary>
    public ulong[] Xmm { get; } = new ulong[32];

    /// <summary>SSE control/status register.</summary>
    public uint Mxcsr = MxcsrDefault;

    /// <summary>x87 control word after finit: all exceptions masked, 64-bit precision, round to nearest.</summary>
    public const ushort FcwDefault = 0x037F;

    /// <summary>x87 control word (FCW).</summary>
    public ushort Fcw = FcwDefault;
    /// <summary>x87 status word (FSW), including TOP in bits 11..13.</summary>
    public ushort Fsw;
    /// <summary>x87 tag word in its abridged (fxsave) form: bit i set = physical register R<i>i</i> is in use.</summary>
    public byte FtwAbridged;
    /// <summary>x87 physical registers R0..R7 (not ST-relative): 64-bit significands.</summary>
    public ulong[] FpMantissa { get; } = new ulong[8];
    /// <summary>x87 physical registers R0..R7: sign and 15-bit biased exponent.</summary>
    public ushort[] FpSignExponent { get; } = new ushort[8];

    /// <summary>Current privilege level, from CS. PV guest kernel and user both run at 3.</summary>
    public int Cpl => Cs & 3;
}
