using System.Runtime.InteropServices;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// Hardware back-end that works without /dev/kvm: tests/native/cpurunner runs the snippet natively in this
/// process at CPL 3, with faults caught by signal handlers (REG_TRAPNO, REG_ERR and CR2 from the signal frame).
/// </summary>
internal sealed unsafe class HostProcessRunner : ISnippetRunner
{
    [StructLayout(LayoutKind.Sequential, Size = 176 + 512)]
    private struct NativeState
    {
        public fixed ulong Gpr[16];
        public ulong Rflags, Rip;
        public long Vector;
        public ulong ErrorCode, Cr2, Pad;
        public fixed byte Fx[512];
    }

    private static readonly object Gate = new();
    private static nint _library;
    private static delegate* unmanaged<NativeState*, byte*, uint, byte*, int> _run;
    private readonly NativeState* _state;

    private HostProcessRunner()
    {
        // fxsave/fxrstor need 16-byte alignment.
        _state = (NativeState*)NativeMemory.AlignedAlloc((nuint)sizeof(NativeState), 64);
    }

    public string Name => "host process";

    /// <summary>The runner, or null with the reason it cannot work here.</summary>
    public static HostProcessRunner? TryCreate(out string reason)
    {
        reason = "";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            reason = "the host-process back-end needs Linux on x86-64";
            return null;
        }
        lock (Gate)
        {
            if (_library == 0)
            {
                string path = Path.Combine(AppContext.BaseDirectory, "libpvcpurun.so");
                if (!File.Exists(path))
                {
                    reason = $"{path} is missing (built by tests/native/cpurunner/Makefile)";
                    return null;
                }
                _library = NativeLibrary.Load(path);
                _run = (delegate* unmanaged<NativeState*, byte*, uint, byte*, int>)NativeLibrary.GetExport(_library, "pv_run");
            }
        }
        return new HostProcessRunner();
    }

    public void Run(MachineState state, ReadOnlySpan<byte> code)
    {
        var s = _state;
        for (int i = 0; i < 16; i++) s->Gpr[i] = state.Gpr[i];
        s->Rflags = state.Rflags;
        fixed (byte* fx = state.Fx) Buffer.MemoryCopy(fx, s->Fx, 512, 512);
        int rc;
        lock (Gate)
        {
            fixed (byte* c = code)
            fixed (byte* sandbox = state.Sandbox)
                rc = _run(s, c, (uint)code.Length, sandbox);
        }
        if (rc != 0) throw new InvalidOperationException($"pv_run failed: {rc} (fixed mappings at 0x{MachineState.CodeVa:x} unavailable?)");
        for (int i = 0; i < 16; i++) state.Gpr[i] = s->Gpr[i];
        state.Rflags = s->Rflags;
        state.Rip = s->Rip;
        state.Vector = s->Vector;
        state.ErrorCode = s->ErrorCode;
        state.Cr2 = s->Cr2;
        fixed (byte* fx = state.Fx) Buffer.MemoryCopy(s->Fx, fx, 512, 512);
    }

    public void Dispose() => NativeMemory.AlignedFree(_state);
}
