using System.Buffers.Binary;
using Paravirt.Cpu.Emulated;
using Paravirt.Cpu.Tests.Emulated;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>The emulated CPU as a snippet runner: the same linear layout as the native back-ends, built with
/// 4-level page tables (code read-only, sandbox writable and no-execute, a guard page after it).</summary>
internal sealed class EmulatorRunner : ISnippetRunner
{
    private const int CodePages = 4;
    private readonly GuestMachine _m = new(frames: 512);
    private readonly ulong[] _sandboxMaddr = new ulong[MachineState.SandboxSize / 4096];
    private readonly ulong[] _codeMaddr = new ulong[CodePages];

    public EmulatorRunner()
    {
        _m.MapRange(MachineState.CodeVa, CodePages, GuestMachine.P | GuestMachine.US);
        _m.MapRange(MachineState.SandboxVa, _sandboxMaddr.Length, GuestMachine.P | GuestMachine.RW | GuestMachine.US | GuestMachine.NX);
        for (int i = 0; i < _sandboxMaddr.Length; i++) _sandboxMaddr[i] = _m.MachineAddress(MachineState.SandboxVa + (ulong)i * 4096);
        for (int i = 0; i < CodePages; i++) _codeMaddr[i] = _m.MachineAddress(MachineState.CodeVa + (ulong)i * 4096);
    }

    public string Name => "emulator";

    public List<string> Log => _m.Logged;

    public ulong InstructionsRetired => _m.Vcpu.InstructionsRetired;

    public void Run(MachineState state, ReadOnlySpan<byte> code)
    {
        if (code.Length + 1 > CodePages * 4096) throw new ArgumentException("snippet too long", nameof(code));
        Span<byte> page = stackalloc byte[4096];
        for (int p = 0; p < CodePages; p++)
        {
            page.Fill(0xCC);
            int start = p * 4096;
            if (start < code.Length) code[start..Math.Min(code.Length, start + 4096)].CopyTo(page);
            _m.Memory.Write(_codeMaddr[p], page);
        }
        for (int i = 0; i < _sandboxMaddr.Length; i++) _m.Memory.Write(_sandboxMaddr[i], state.Sandbox.AsSpan(i * 4096, 4096));

        var r = _m.Regs;
        state.Gpr.CopyTo(r.Gprs, 0);
        r.Rflags = (state.Rflags & 0x40CD5) | 0x202; // status flags, DF and AC, as the native back-end loads them
        r.Rip = MachineState.CodeVa;
        LoadFx(r, state.Fx);

        var exit = _m.Run();
        ulong end = MachineState.CodeVa + (ulong)code.Length;
        if (exit.Reason == VcpuExitReason.SoftwareInterrupt && exit.Vector == ExceptionVector.Breakpoint && r.Rip == end + 1)
        {
            state.Vector = -1;
            state.Rip = end;
            state.ErrorCode = 0;
            state.Cr2 = 0;
        }
        else if (exit.Reason == VcpuExitReason.Exception)
        {
            state.Vector = exit.Vector;
            state.Rip = r.Rip;
            state.ErrorCode = exit.ErrorCode;
            state.Cr2 = exit.Vector == ExceptionVector.PageFault ? r.Cr2 : 0;
        }
        else
        {
            state.Vector = 1000 + (int)exit.Reason;
            state.Rip = r.Rip;
        }
        r.Gprs.CopyTo(state.Gpr, 0);
        state.Rflags = r.Rflags;
        SaveFx(r, state.Fx);
        for (int i = 0; i < _sandboxMaddr.Length; i++) _m.Memory.Read(_sandboxMaddr[i], state.Sandbox.AsSpan(i * 4096, 4096));
    }

    /// <summary>The fxrstor64 view of an image (what the native back-ends load with fxrstor64).</summary>
    private static void LoadFx(VcpuRegisters r, byte[] fx)
    {
        r.Fcw = (ushort)((BinaryPrimitives.ReadUInt16LittleEndian(fx) & 0x1F3F) | 0x40);
        r.Fsw = BinaryPrimitives.ReadUInt16LittleEndian(fx.AsSpan(2));
        r.FtwAbridged = fx[4];
        int top = (r.Fsw >> 11) & 7;
        for (int i = 0; i < 8; i++)
        {
            int p = (top + i) & 7;
            r.FpMantissa[p] = BinaryPrimitives.ReadUInt64LittleEndian(fx.AsSpan(32 + 16 * i));
            r.FpSignExponent[p] = BinaryPrimitives.ReadUInt16LittleEndian(fx.AsSpan(40 + 16 * i));
        }
        r.Mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(fx.AsSpan(24));
        for (int q = 0; q < 32; q++) r.Xmm[q] = BinaryPrimitives.ReadUInt64LittleEndian(fx.AsSpan(160 + 8 * q));
    }

    private static void SaveFx(VcpuRegisters r, byte[] fx)
    {
        Array.Clear(fx, 0, 160);
        BinaryPrimitives.WriteUInt16LittleEndian(fx, r.Fcw);
        BinaryPrimitives.WriteUInt16LittleEndian(fx.AsSpan(2), r.Fsw);
        fx[4] = r.FtwAbridged;
        BinaryPrimitives.WriteUInt32LittleEndian(fx.AsSpan(24), r.Mxcsr);
        BinaryPrimitives.WriteUInt32LittleEndian(fx.AsSpan(28), EmulatedVcpu.MxcsrMask);
        int top = (r.Fsw >> 11) & 7;
        for (int i = 0; i < 8; i++)
        {
            int p = (top + i) & 7;
            BinaryPrimitives.WriteUInt64LittleEndian(fx.AsSpan(32 + 16 * i), r.FpMantissa[p]);
            BinaryPrimitives.WriteUInt16LittleEndian(fx.AsSpan(40 + 16 * i), r.FpSignExponent[p]);
        }
        for (int q = 0; q < 32; q++) BinaryPrimitives.WriteUInt64LittleEndian(fx.AsSpan(160 + 8 * q), r.Xmm[q]);
    }

    public void Dispose() => _m.Dispose();
}
