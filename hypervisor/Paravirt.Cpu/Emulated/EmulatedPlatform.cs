using System.Collections.Concurrent;
using System.Diagnostics;
using Iced.Intel;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// The software x86-64 platform: vCPUs interpreted over Iced's decoder. Runs everywhere; nothing PV-specific.
/// </summary>
public sealed class EmulatedPlatform : IPlatform
{
    /// <summary>Frequency of the default <see cref="ReadTsc"/>: one tick per nanosecond of host monotonic time.</summary>
    public const ulong DefaultTscHz = 1_000_000_000;

    /// <summary>Distinct unimplemented opcodes reported before the platform stops reporting (bounds the log
    /// when a guest runs garbage).</summary>
    public const int MaxUnimplementedReports = 256;

    private readonly ConcurrentDictionary<string, byte> _reported = new();

    public string Name => "emulated";

    /// <summary>Diagnostics sink (the hypervisor routes it to its console ring). Called from vCPU threads.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Time-stamp counter as the guest reads it with rdtsc/rdtscp; monotonic and shared by all vCPUs.
    /// Default: host monotonic nanoseconds (<see cref="DefaultTscHz"/>).</summary>
    public Func<ulong> ReadTsc { get; set; } = DefaultTsc;

    public IVcpu CreateVcpu(MachineMemory memory) => CreateEmulatedVcpu(memory);

    public EmulatedVcpu CreateEmulatedVcpu(MachineMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return new EmulatedVcpu(this, memory);
    }

    private static readonly double TicksToNs = 1e9 / Stopwatch.Frequency;

    private static ulong DefaultTsc() => (ulong)(Stopwatch.GetTimestamp() * TicksToNs);

    /// <summary>Report an instruction the platform does not implement, once per distinct opcode.</summary>
    internal void ReportUnimplemented(ulong rip, ReadOnlySpan<byte> bytes)
    {
        var log = Log;
        if (log == null || _reported.Count >= MaxUnimplementedReports) return;
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes.ToArray()), rip);
        decoder.Decode(out var instruction);
        // The key is the opcode (Iced's Code); undecodable bytes are keyed by their first bytes.
        string key = instruction.Code == Code.INVALID
            ? "invalid:" + Convert.ToHexString(bytes[..Math.Min(bytes.Length, 4)])
            : instruction.Code.ToString();
        if (!_reported.TryAdd(key, 0)) return;
        var formatter = new GasFormatter();
        var output = new StringOutput();
        formatter.Format(instruction, output);
        var len = instruction.Code == Code.INVALID ? bytes.Length : instruction.Length;
        log($"emulated cpu: unimplemented instruction at 0x{rip:x}: {Convert.ToHexString(bytes[..len]).ToLowerInvariant()} " +
            $"({output.ToStringAndReset()}, {key}); raising #UD");
    }

    /// <summary>A host-side failure inside the emulator: a bug, reported loudly, never thrown at the hypervisor.</summary>
    internal void ReportInternalError(ulong rip, Exception e) =>
        Log?.Invoke($"emulated cpu: internal error at rip 0x{rip:x}, raising #UD: {e.GetType().Name}: {e.Message}");
}
