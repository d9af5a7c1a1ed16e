using System.Buffers.Binary;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// Everything the differential harness loads into and reads back from a CPU: GPRs, RFLAGS, the fxsave64 image
/// (x87, MXCSR, XMM) and the sandbox. Addresses are fixed so RIP-relative and absolute operands mean the same on
/// every back-end (tests/native/cpurunner/cpurunner.h).
/// </summary>
internal sealed class MachineState
{
    public const ulong CodeVa = 0x1000_0000;
    public const ulong SandboxVa = 0x1010_0000;
    public const int SandboxSize = 0x1_0000;
    /// <summary>Initial RSP: the middle of the sandbox, so push/pop stay inside it.</summary>
    public const ulong StackVa = SandboxVa + SandboxSize / 2;

    public readonly ulong[] Gpr = new ulong[16];
    public ulong Rflags = 0x2;
    public readonly byte[] Fx = new byte[512];
    public readonly byte[] Sandbox = new byte[SandboxSize];

    /// <summary>How the run ended: -1 completed, else the exception vector.</summary>
    public long Vector = -1;
    public ulong Rip, ErrorCode, Cr2;

    public MachineState Clone()
    {
        var s = new MachineState { Rflags = Rflags, Vector = Vector, Rip = Rip, ErrorCode = ErrorCode, Cr2 = Cr2 };
        Gpr.CopyTo(s.Gpr, 0);
        Fx.CopyTo(s.Fx, 0);
        Sandbox.CopyTo(s.Sandbox, 0);
        return s;
    }

    // fxsave64 image accessors (SDM vol. 1, table 10-2).
    public ushort Fcw { get => BinaryPrimitives.ReadUInt16LittleEndian(Fx); set => BinaryPrimitives.WriteUInt16LittleEndian(Fx, value); }
    public ushort Fsw { get => BinaryPrimitives.ReadUInt16LittleEndian(Fx.AsSpan(2)); set => BinaryPrimitives.WriteUInt16LittleEndian(Fx.AsSpan(2), value); }
    public byte Ftw { get => Fx[4]; set => Fx[4] = value; }
    public uint Mxcsr { get => BinaryPrimitives.ReadUInt32LittleEndian(Fx.AsSpan(24)); set => BinaryPrimitives.WriteUInt32LittleEndian(Fx.AsSpan(24), value); }

    public ulong StMantissa(int i) => BinaryPrimitives.ReadUInt64LittleEndian(Fx.AsSpan(32 + 16 * i));
    public ushort StSignExp(int i) => BinaryPrimitives.ReadUInt16LittleEndian(Fx.AsSpan(40 + 16 * i));
    public void SetSt(int i, ushort signExp, ulong mant)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(Fx.AsSpan(32 + 16 * i), mant);
        BinaryPrimitives.WriteUInt16LittleEndian(Fx.AsSpan(40 + 16 * i), signExp);
    }

    public ulong Xmm(int q) => BinaryPrimitives.ReadUInt64LittleEndian(Fx.AsSpan(160 + 8 * q));
    public void SetXmm(int q, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Fx.AsSpan(160 + 8 * q), v);

    /// <summary>A fresh state: FPU after finit, default MXCSR, MXCSR_MASK as hardware reports it.</summary>
    public static MachineState Initial()
    {
        var s = new MachineState();
        s.Fcw = 0x037F;
        s.Mxcsr = 0x1F80;
        s.Gpr[4] = StackVa;
        return s;
    }
}

/// <summary>A CPU that runs snippets: the emulator, or real hardware through one of the native back-ends.</summary>
internal interface ISnippetRunner : IDisposable
{
    string Name { get; }
    /// <summary>Run <paramref name="code"/> (placed at <see cref="MachineState.CodeVa"/>) from
    /// <paramref name="state"/>, which is updated in place with the final state or the state at the fault.</summary>
    void Run(MachineState state, ReadOnlySpan<byte> code);
}
