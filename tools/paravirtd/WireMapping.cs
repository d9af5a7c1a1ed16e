using Paravirt.Control.Messages;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Daemon;

/// <summary>Toolstack types to their wire forms (the protocol library does not know the toolstack).</summary>
public static class WireMapping
{
    public static DomainSummary ToWire(this DomainInfo info) => new()
    {
        DomId = info.DomId,
        Name = info.Name,
        Uuid = info.Uuid,
        MemoryMiB = info.MemoryMiB,
        Vcpus = info.Vcpus,
        State = info.State,
        CpuTimeSeconds = info.CpuTimeSeconds,
        StartTimeUtc = info.StartTimeUtc,
        TargetKiB = info.TargetKiB,
        MaxKiB = info.MaxKiB,
        VcpuStates = info.VcpuStates?.Select(v => new VcpuSummary
        {
            Id = v.Id, Online = v.Online, Running = v.Running, Blocked = v.Blocked, CpuTimeSeconds = v.CpuTimeSeconds,
            Cpu = v.Cpu, HardAffinity = v.HardAffinity, SoftAffinity = v.SoftAffinity,
        }).ToList(),
    };

    public static SchedPoolSummary ToWire(this SchedCreditPool pool) => new()
    {
        Name = pool.Name, TimesliceMs = pool.TimesliceMs, RatelimitUs = pool.RatelimitUs, MigrationDelayUs = pool.MigrationDelayUs,
    };

    public static SchedDomainSummary ToWire(this SchedCreditParams p) => new()
    {
        DomId = p.DomId, Name = p.Name, Weight = p.Weight, Cap = p.Cap,
    };

    public static HostSummary ToWire(this HostInfo info) => new()
    {
        NrCpus = info.NrCpus,
        TotalMemoryMiB = info.TotalMemoryMiB,
        FreeMemoryMiB = info.FreeMemoryMiB,
        XenMajor = info.XenMajor,
        XenMinor = info.XenMinor,
        XenExtra = info.XenExtra,
        XenCaps = info.XenCaps,
        VirtCaps = info.VirtCaps,
        Scheduler = info.Scheduler,
        PageSize = info.PageSize,
        CommandLine = info.CommandLine,
    };

    public static DiskSummary ToWire(this DiskInfo disk) => new()
    {
        DevId = disk.DevId,
        Vdev = disk.Vdev,
        BackendId = disk.BackendId,
        FrontendId = disk.FrontendId,
        State = disk.State,
        EventChannel = disk.EventChannel,
        RingRef = disk.RingRef,
        BackendPath = disk.BackendPath,
        Target = disk.Target,
        ReadWrite = disk.ReadWrite,
        OoReq = disk.Statistics?.OoReq ?? -1,
        RdReq = disk.Statistics?.RdReq ?? -1,
        WrReq = disk.Statistics?.WrReq ?? -1,
        RdSect = disk.Statistics?.RdSect ?? -1,
        WrSect = disk.Statistics?.WrSect ?? -1,
    };

    public static DomainEndInfo ToWire(this DomainEnd end) => new()
    {
        // SHUTDOWN_* values are the same numbers on both sides (sched.h); an unknown one is reported as a crash.
        Reason = Enum.IsDefined((DomainShutdownReason)(int)end.Reason)
            ? (DomainShutdownReason)(int)end.Reason
            : DomainShutdownReason.Crash,
        Destroyed = end.Destroyed,
        CrashMessage = end.CrashMessage,
    };
}
