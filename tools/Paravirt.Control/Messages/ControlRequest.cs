using Paravirt.XlConfig;

namespace Paravirt.Control.Messages;

/// <summary>One request from xl. Which fields matter depends on <see cref="Op"/> (see <see cref="ControlOps"/>).</summary>
public sealed class ControlRequest
{
    public string Op { get; set; } = "";
    /// <summary>A domain name or numeric id, resolved by the toolstack as xl does.</summary>
    public string? Domain { get; set; }
    public DomainConfig? Config { get; set; }
    /// <summary>create: leave the domain paused (xl create -p).</summary>
    public bool Paused { get; set; }
    /// <summary>create: attach the console before the domain first runs (xl create -c).</summary>
    public bool Console { get; set; }
    /// <summary>dmesg: clear the ring after reading (xl dmesg -c).</summary>
    public bool Clear { get; set; }
    /// <summary>shutdown: reboot rather than power off.</summary>
    public bool Reboot { get; set; }
    /// <summary>shutdown: stop a guest without PV control at once (xl shutdown -F).</summary>
    public bool Force { get; set; }
    /// <summary>shutdown: reply only once the domain has died, with how it ended (xl shutdown -w).</summary>
    public bool WaitForEnd { get; set; }
    /// <summary>
    /// wait: after the domain's end, also wait for the domain its on_* restart action builds and return it in
    /// <see cref="ControlResponse.Domain"/> (none when it is not restarted): how `xl create -F` stays attached.
    /// </summary>
    public bool FollowRestart { get; set; }
    /// <summary>rename: the new name.</summary>
    public string? NewName { get; set; }
    /// <summary>mem-set, mem-max: the amount in KiB.</summary>
    public long MemoryKiB { get; set; }
    /// <summary>list: include each domain's configuration (xl list -l).</summary>
    public bool Long { get; set; }
    /// <summary>vcpu-set: how many vCPUs to have online.</summary>
    public int VcpuCount { get; set; }
    /// <summary>block-attach: the parsed disk specification (xl parses, as libxl's callers do).</summary>
    public DiskSpec? Disk { get; set; }
    /// <summary>block-detach: the device, by vdev or device number.</summary>
    public string? Device { get; set; }
    /// <summary>sched-credit: the new weight (1..65535); null leaves it.</summary>
    public int? Weight { get; set; }
    /// <summary>sched-credit: the new cap (percent of one pCPU, 0 = none); null leaves it.</summary>
    public int? Cap { get; set; }
    /// <summary>sched-credit-pool: new timeslice (ms), ratelimit (us), migration delay (us); null leaves each.</summary>
    public int? TimesliceMs { get; set; }
    public int? RatelimitUs { get; set; }
    public int? MigrationDelayUs { get; set; }
    /// <summary>vcpu-pin: the vCPU; null for all of them.</summary>
    public int? VcpuId { get; set; }
    /// <summary>vcpu-pin: cpu lists (xl.cfg cpus syntax); null leaves that affinity as it is.</summary>
    public string? HardAffinity { get; set; }
    public string? SoftAffinity { get; set; }
}
