namespace Paravirt.Control.Messages;

/// <summary>The operations a <see cref="ControlRequest"/> may name. Anything else gets an error reply.</summary>
public static class ControlOps
{
    /// <summary>Is the daemon alive? Empty OK reply.</summary>
    public const string Ping = "ping";
    /// <summary>Config required; Paused; Console switches to console mode after building.</summary>
    public const string Create = "create";
    /// <summary>Domain optional: all domains, or the one named.</summary>
    public const string List = "list";
    public const string Destroy = "destroy";
    public const string Pause = "pause";
    public const string Unpause = "unpause";
    /// <summary>Attach to the console of Domain; the connection switches to console mode.</summary>
    public const string Console = "console";
    /// <summary>Reply once Domain has died, with how it ended.</summary>
    public const string Wait = "wait";
    /// <summary>The hypervisor console ring; Clear empties it.</summary>
    public const string Dmesg = "dmesg";
    /// <summary>Ask Domain to power off or reboot (Reboot) through control/shutdown; Force falls back at once.</summary>
    public const string Shutdown = "shutdown";
    /// <summary>Rename Domain to NewName.</summary>
    public const string Rename = "rename";
    /// <summary>Set Domain's balloon target (memory/target) to MemoryKiB.</summary>
    public const string MemSet = "mem-set";
    /// <summary>Set Domain's maximum memory to MemoryKiB.</summary>
    public const string MemMax = "mem-max";
    /// <summary>Host and hypervisor facts for `xl info`.</summary>
    public const string Info = "info";
    /// <summary>Bring Domain's vCPUs 0..VcpuCount-1 online, the rest offline.</summary>
    public const string VcpuSet = "vcpu-set";
    /// <summary>Hot-plug Disk into Domain (xl block-attach).</summary>
    public const string BlockAttach = "block-attach";
    /// <summary>Unplug Device (a vdev or device number) from Domain; Force skips asking the guest (xl block-detach).</summary>
    public const string BlockDetach = "block-detach";
    /// <summary>Domain's virtual block devices (xl block-list).</summary>
    public const string BlockList = "block-list";

    /// <summary>
    /// Credit scheduler (xl sched-credit): with Domain, that domain's weight and cap, set first from Weight/Cap when
    /// given; without, every domain. The reply carries the pool's parameters too.
    /// </summary>
    public const string SchedCredit = "sched-credit";
    /// <summary>The cpupool's credit parameters, set first from TimesliceMs/RatelimitUs/MigrationDelayUs when given.</summary>
    public const string SchedCreditPool = "sched-credit-pool";
    /// <summary>Set Domain's vCPU VcpuId (null: all) hard/soft affinity to HardAffinity/SoftAffinity (null: unchanged).</summary>
    public const string VcpuPin = "vcpu-pin";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        Ping, Create, List, Destroy, Pause, Unpause, Console, Wait, Dmesg, Shutdown, Rename, MemSet, MemMax, Info, VcpuSet,
        BlockAttach, BlockDetach, BlockList, SchedCredit, SchedCreditPool, VcpuPin,
    };

    /// <summary>Operations whose request must name a domain.</summary>
    public static bool NeedsDomain(string op) =>
        op is Destroy or Pause or Unpause or Console or Wait or Shutdown or Rename or MemSet or MemMax or VcpuSet
            or BlockAttach or BlockDetach or BlockList or VcpuPin;
}
