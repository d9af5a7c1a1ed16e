using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Time;

/// <summary>
/// Publishes time to a guest the way Xen does: struct vcpu_time_info in each vcpu_info (version odd while the
/// fields change, then even) and the wall clock in shared_info (wc_version, wc_sec, wc_nsec, wc_sec_hi).
/// </summary>
public static class VcpuTime
{
    /// <summary>vcpu_time_info offsets (xen.h): version 0, tsc_timestamp 8, system_time 16, tsc_to_system_mul 24, tsc_shift 28, flags 29; 32 bytes.</summary>
    public const int Version = 0, TscTimestamp = 8, SystemTime = 16, TscToSystemMul = 24, TscShift = 28, Flags = 29, Size = 32;
    /// <summary>XEN_PVCLOCK_TSC_STABLE_BIT: one TSC shared by all vCPUs, monotonic.</summary>
    public const byte TscStableBit = 1;

    /// <summary>update_vcpu_system_time: a fresh (tsc, system time) pair for <paramref name="v"/>.</summary>
    public static unsafe void Update(Vcpu v)
    {
        var d = v.Domain;
        ulong infoMa = v.VcpuInfoAddress; // the shared_info slot, or where VCPUOP_register_vcpu_info moved it
        if (infoMa == ulong.MaxValue) return;
        var clock = SystemClock.Of(d.Hypervisor);
        var mem = d.Hypervisor.Memory;
        byte* t = mem.Base + infoMa + SharedInfoLayout.VcpuTime;
        ref uint version = ref Unsafe.AsRef<uint>(t + Version);
        ulong tsc = clock.ReadTsc();
        Volatile.Write(ref version, (Volatile.Read(ref version) + 1) | 1);
        Interlocked.MemoryBarrier();
        *(ulong*)(t + TscTimestamp) = tsc;
        *(ulong*)(t + SystemTime) = clock.Scale(tsc - clock.BootTsc);
        *(uint*)(t + TscToSystemMul) = clock.TscToSystemMul;
        *(sbyte*)(t + TscShift) = clock.TscShift;
        *(t + Flags) = TscStableBit;
        Interlocked.MemoryBarrier();
        Volatile.Write(ref version, Volatile.Read(ref version) + 1);
        mem.NoteWrite(infoMa >> 12);
    }

    /// <summary>update_domain_wallclock_time: the wall clock at system time zero, seconds split low/high.</summary>
    public static unsafe void UpdateWallClock(Domain d)
    {
        if (d.SharedInfoMfn == ulong.MaxValue) return;
        var clock = SystemClock.Of(d.Hypervisor);
        var mem = d.Hypervisor.Memory;
        byte* s = mem.Base + (d.SharedInfoMfn << 12);
        ref uint version = ref Unsafe.AsRef<uint>(s + SharedInfoLayout.WcVersion);
        long ticks = (clock.WallClockAtBoot - DateTime.UnixEpoch).Ticks;
        ulong sec = (ulong)(ticks / TimeSpan.TicksPerSecond);
        uint nsec = (uint)(ticks % TimeSpan.TicksPerSecond * 100);
        Volatile.Write(ref version, (Volatile.Read(ref version) + 1) | 1);
        Interlocked.MemoryBarrier();
        *(uint*)(s + SharedInfoLayout.WcSec) = (uint)sec;
        *(uint*)(s + SharedInfoLayout.WcNsec) = nsec;
        *(uint*)(s + SharedInfoLayout.WcSecHi) = (uint)(sec >> 32);
        Interlocked.MemoryBarrier();
        Volatile.Write(ref version, Volatile.Read(ref version) + 1);
        mem.NoteWrite(d.SharedInfoMfn);
    }
}
