using System.Diagnostics;
using System.Runtime.CompilerServices;
using Paravirt.Cpu.Emulated;

namespace Paravirt.Hypervisor.Time;

/// <summary>
/// Xen system time: nanoseconds since the hypervisor started, derived from the TSC the guest itself reads, so that a
/// guest extrapolating from vcpu_time_info (system_time + scaled(rdtsc - tsc_timestamp)) gets exactly this clock.
/// The scale is Xen's set_time_scale: ns = ((tsc delta) shifted by tsc_shift) * tsc_to_system_mul >> 32.
/// </summary>
public sealed class SystemClock
{
    private static readonly ConditionalWeakTable<Hypervisor, SystemClock> Clocks = new();
    private static readonly double StopwatchToNs = 1e9 / Stopwatch.Frequency;

    private readonly Func<ulong> _readTsc;

    public SystemClock(Func<ulong> readTsc, ulong tscHz, DateTime wallClockNow)
    {
        _readTsc = readTsc;
        TscHz = tscHz;
        (TscToSystemMul, TscShift) = TimeScale(tscHz);
        BootTsc = readTsc();
        // The wall clock at system time zero (shared_info wc_sec/wc_nsec): guests add system time to it.
        WallClockAtBoot = wallClockNow;
    }

    public static SystemClock Of(Hypervisor hv) => Clocks.GetValue(hv, h => h.Platform is EmulatedPlatform ep
        ? new SystemClock(ep.ReadTsc, EmulatedPlatform.DefaultTscHz, DateTime.UtcNow)
        : new SystemClock(() => (ulong)(Stopwatch.GetTimestamp() * StopwatchToNs), 1_000_000_000, DateTime.UtcNow));

    public ulong TscHz { get; }
    public uint TscToSystemMul { get; }
    public sbyte TscShift { get; }
    public ulong BootTsc { get; }
    public DateTime WallClockAtBoot { get; }

    public ulong ReadTsc() => _readTsc();

    /// <summary>NOW(): system time in ns.</summary>
    public long Now() => (long)Scale(ReadTsc() - BootTsc);

    public ulong Scale(ulong tscDelta)
    {
        ulong d = TscShift >= 0 ? tscDelta << TscShift : tscDelta >> -TscShift;
        return (ulong)(((UInt128)d * TscToSystemMul) >> 32);
    }

    /// <summary>set_time_scale: bring the rate into (1e9, 2e9] ticks/s by shifting, then take the 32-bit fraction.</summary>
    public static (uint Mul, sbyte Shift) TimeScale(ulong ticksPerSecond)
    {
        if (ticksPerSecond == 0) throw new ArgumentOutOfRangeException(nameof(ticksPerSecond));
        const ulong NsPerSec = 1_000_000_000;
        ulong tps = ticksPerSecond;
        int shift = 0;
        while (tps > 2 * NsPerSec) { tps >>= 1; shift--; }
        while (tps <= NsPerSec) { tps <<= 1; shift++; }
        return ((uint)((NsPerSec << 32) / tps), (sbyte)shift);
    }

    /// <summary>Milliseconds from now until system time <paramref name="deadlineNs"/> (0 if it has passed).</summary>
    public long MillisecondsUntil(long deadlineNs)
    {
        long delta = deadlineNs - Now();
        return delta <= 0 ? 0 : (delta + 999_999) / 1_000_000;
    }
}
