using System.Threading.Channels;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

/// <summary>Why a domain stopped: SHUTDOWN_* of sched.h (poweroff 0, reboot 1, suspend 2, crash 3, watchdog 4, soft_reset 5).</summary>
public enum ShutdownReason
{
    Poweroff = 0, Reboot = 1, Suspend = 2, Crash = 3, Watchdog = 4, SoftReset = 5,
}

/// <summary>A domain as `xl list` shows it.</summary>
public sealed record DomainInfo(
    uint DomId,
    string Name,
    Guid Uuid,
    long MemoryMiB,
    int Vcpus,
    /// <summary>The six state letters of `xl list`: r b p s c d, '-' where clear.</summary>
    string State,
    double CpuTimeSeconds,
    /// <summary>When the domain was built (UTC); Dom0's is when the host started paravirtd.</summary>
    DateTime StartTimeUtc = default,
    /// <summary>The balloon target (memory/target) in KiB; 0 when unknown.</summary>
    long TargetKiB = 0,
    /// <summary>Each vCPU as `xl vcpu-list` shows it; null when the domain has none (Dom0 is managed code).</summary>
    IReadOnlyList<VcpuState>? VcpuStates = null,
    /// <summary>The most memory the domain may have (memory/static-max) in KiB; 0: no limit (Dom0).</summary>
    long MaxKiB = 0);

/// <summary>
/// One vCPU: id, whether it is on a pCPU now or blocked, the CPU time it has used, the pCPU it runs or last ran on,
/// and its hard and soft affinity as xl prints cpumaps ("all", "0-1,3").
/// </summary>
public sealed record VcpuState(int Id, bool Online, bool Running, bool Blocked, double CpuTimeSeconds,
    int Cpu = 0, string HardAffinity = "all", string SoftAffinity = "all");

/// <summary>The credit scheduler's cpupool parameters (`xl sched-credit -s`).</summary>
public sealed record SchedCreditPool(string Name, int TimesliceMs, int RatelimitUs, int MigrationDelayUs);

/// <summary>One domain's credit parameters (`xl sched-credit -d`).</summary>
public sealed record SchedCreditParams(uint DomId, string Name, int Weight, int Cap);

/// <summary>What `xl info` reports about the host and the hypervisor (xl_info.c's physinfo and xeninfo fields).</summary>
public sealed record HostInfo(
    int NrCpus,
    long TotalMemoryMiB,
    long FreeMemoryMiB,
    int XenMajor,
    int XenMinor,
    string XenExtra,
    string XenCaps,
    string VirtCaps,
    string Scheduler,
    int PageSize,
    string CommandLine);

/// <summary>How a domain ended (for `xl create -c` exit status and `xl list` state).</summary>
public sealed record DomainEnd(ShutdownReason Reason, bool Destroyed, string? CrashMessage);

/// <summary>
/// A console attachment: first the bounded history kept since the domain was created, then live output.
/// The reader completes when the domain dies; <see cref="End"/> then says how.
/// </summary>
public sealed class ConsoleSession : IDisposable
{
    private readonly Action _detach;

    public ConsoleSession(ChannelReader<byte[]> output, Task<DomainEnd> end, Action<ReadOnlyMemory<byte>> input, Action detach)
    {
        Output = output;
        End = end;
        SendInput = input;
        _detach = detach;
    }

    public ChannelReader<byte[]> Output { get; }
    public Task<DomainEnd> End { get; }
    /// <summary>Keyboard input to the guest console.</summary>
    public Action<ReadOnlyMemory<byte>> SendInput { get; }
    public void Dispose() => _detach();
}

/// <summary>The toolstack as `paravirtd` exposes it to `xl`. Every failure is a <see cref="ToolstackException"/>
/// with one line for the administrator; a failed call leaves nothing behind.</summary>
public interface IToolstack
{
    /// <summary>Build and (unless <paramref name="paused"/>) start a domain.</summary>
    DomainInfo Create(DomainConfig config, bool paused);
    IReadOnlyList<DomainInfo> List();
    /// <summary>Resolve a domain by name or numeric id, as xl does; throws when there is none.</summary>
    DomainInfo Find(string nameOrId);
    void Destroy(uint domId);
    /// <summary>
    /// Cancel an on_*=restart that is waiting to re-create the domain called <paramref name="name"/> (between the old
    /// domain's teardown and the new one's build there is no domid to destroy); false when none is pending.
    /// </summary>
    bool CancelPendingRestart(string name) => false;
    void Pause(uint domId);
    void Unpause(uint domId);
    ConsoleSession AttachConsole(uint domId);
    /// <summary>Completes when the domain has died (or at once if it is gone).</summary>
    Task<DomainEnd> WaitForEnd(uint domId);
    /// <summary>
    /// Completes, after the domain's end, with the domain its on_* restart action built from the same configuration
    /// (restart, rename-restart, coredump-restart), or null when none was or will be built (another action, a
    /// cancelled or failed restart, an explicit destroy). Ask while the domain exists: what `xl create -F` follows.
    /// </summary>
    Task<DomainInfo?> WaitForSuccessor(uint domId) => Task.FromResult<DomainInfo?>(null);
    /// <summary>The hypervisor console ring (`xl dmesg`); <paramref name="clear"/> empties it after reading.</summary>
    string Dmesg(bool clear);

    /// <summary>
    /// Ask a guest to power off or reboot through its control/shutdown node (the PV protocol). A guest that has not
    /// stopped within the toolstack's shutdown timeout is shut down by the hypervisor; with <paramref name="force"/>
    /// a guest that never advertised control/feature-poweroff (or -reboot) is shut down by the hypervisor at once.
    /// </summary>
    void Shutdown(uint domId, ShutdownReason reason, bool force);
    /// <summary>Give a domain a new name (the hypervisor's view, /local/domain/&lt;id&gt;/name and /vm/&lt;uuid&gt;/name).</summary>
    void Rename(uint domId, string newName);
    /// <summary>Set the balloon target (memory/target, KiB): the guest's balloon driver moves towards it.</summary>
    void SetMemoryTarget(uint domId, long targetKiB);
    /// <summary>Set the most memory the domain may have (memory/static-max, KiB).</summary>
    void SetMaxMemory(uint domId, long maxKiB);
    /// <summary>
    /// Bring vCPUs 0..count-1 online and the rest offline through cpu/&lt;n&gt;/availability (the PV vCPU hotplug
    /// protocol: the guest acts on it with VCPUOP_up/down).
    /// </summary>
    void SetOnlineVcpus(uint domId, int count);
    HostInfo GetHostInfo();
    /// <summary>The configuration a domain was created from (for `xl list -l`); null for Dom0.</summary>
    DomainConfig? ConfigOf(uint domId);

    /// <summary>The domain's virtual block devices (`xl block-list`), in attach order.</summary>
    IReadOnlyList<DiskInfo> ListDisks(uint domId) => throw new ToolstackException("this toolstack has no block devices");
    /// <summary>Hot-plug a disk (`xl block-attach`): its back-end is up (InitWait) when this returns.</summary>
    void AttachDisk(uint domId, DiskSpec disk) => throw new ToolstackException("this toolstack has no block devices");
    /// <summary>
    /// Unplug a disk named by vdev or device number (`xl block-detach`): the front-end is asked to close (bounded wait)
    /// unless <paramref name="force"/>, then the back-end is stopped and the nodes removed.
    /// </summary>
    void DetachDisk(uint domId, string device, bool force) => throw new ToolstackException("this toolstack has no block devices");

    /// <summary>The cpupool's credit parameters: timeslice, ratelimit, migration delay.</summary>
    SchedCreditPool GetSchedCreditPool() => throw new ToolstackException("this toolstack has no scheduler");
    /// <summary>Change the cpupool's credit parameters (null leaves one as it is).</summary>
    void SetSchedCreditPool(int? timesliceMs, int? ratelimitUs, int? migrationDelayUs) => throw new ToolstackException("this toolstack has no scheduler");
    /// <summary>A domain's weight and cap.</summary>
    SchedCreditParams GetSchedCredit(uint domId) => throw new ToolstackException("this toolstack has no scheduler");
    /// <summary>Set a domain's weight (1..65535) and/or cap (0..100 × vCPUs); null leaves one as it is.</summary>
    void SetSchedCredit(uint domId, int? weight, int? cap) => throw new ToolstackException("this toolstack has no scheduler");
    /// <summary>
    /// Set the hard and/or soft affinity (cpu lists as xl.cfg's cpus; null leaves one as it is) of one vCPU, or of
    /// every vCPU when <paramref name="vcpu"/> is null (`xl vcpu-pin`).
    /// </summary>
    void PinVcpu(uint domId, int? vcpu, string? hard, string? soft) => throw new ToolstackException("this toolstack has no scheduler");
}

public sealed class ToolstackException(string message) : Exception(message);
