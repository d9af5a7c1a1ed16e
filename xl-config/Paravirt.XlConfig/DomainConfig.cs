using Newtonsoft.Json;

namespace Paravirt.XlConfig;

/// <summary>What xl.cfg(5) says to do when a domain stops for a given reason.</summary>
public enum DomainAction
{
    Destroy, Restart, RenameRestart, Preserve, CoredumpDestroy, CoredumpRestart, SoftReset,
}

/// <summary>
/// The typed domain configuration (libxl's domain_config role) built from an xl.cfg file.
/// Paths are absolute once <see cref="XlDomainConfigReader"/> has resolved them.
/// Memory sizes are in MiB as in xl.cfg.
/// </summary>
public sealed class DomainConfig
{
    public string Name { get; set; } = "";
    public Guid? Uuid { get; set; }
    public string Type { get; set; } = "pv";
    public long MemoryMiB { get; set; } = 128;
    public long MaxMemMiB { get; set; }
    public int Vcpus { get; set; } = 1;
    public int MaxVcpus { get; set; }
    public string Kernel { get; set; } = "";
    public string? Ramdisk { get; set; }
    /// <summary>The guest command line as the kernel receives it: <c>cmdline</c>, or <c>root</c> and <c>extra</c> combined.</summary>
    public string Cmdline { get; set; } = "";
    public DomainAction OnPoweroff { get; set; } = DomainAction.Destroy;
    public DomainAction OnReboot { get; set; } = DomainAction.Restart;
    public DomainAction OnWatchdog { get; set; } = DomainAction.Destroy;
    public DomainAction OnCrash { get; set; } = DomainAction.Destroy;
    public bool DriverDomain { get; set; }
    /// <summary><c>max_event_channels</c>: the highest event-channel port the domain may use (libxl default 1023); null: default.</summary>
    public uint? MaxEventChannels { get; set; }
    /// <summary><c>max_grant_frames</c>: grant-table frames the domain may grow to (xl.conf default 64); null: default.</summary>
    public uint? MaxGrantFrames { get; set; }
    /// <summary><c>max_maptrack_frames</c>: frames of grant mappings the domain may hold (xl.conf default 1024); null: default.</summary>
    public uint? MaxMaptrackFrames { get; set; }
    /// <summary><c>disk = [ 'DISKSPEC', ... ]</c> parsed by xl-disk-configuration(5).</summary>
    public List<DiskSpec> Disks { get; set; } = [];
    /// <summary><c>vif = [ 'VIFSPEC', ... ]</c> parsed by xl-network-configuration(5); not attached yet.</summary>
    public List<VifSpec> Vifs { get; set; } = [];
    /// <summary>
    /// <c>cpus</c> (hard affinity) as validated <see cref="CpuRange"/> texts: one entry applying to every vcpu when the
    /// config gave a string, else one per vcpu (<see cref="CpusPerVcpu"/>); null: not given (every pCPU).
    /// </summary>
    public List<string>? Cpus { get; set; }
    public bool CpusPerVcpu { get; set; }
    /// <summary><c>cpu_weight</c> (credit scheduler weight, 1–65535); null: the scheduler's default (256).</summary>
    public int? CpuWeight { get; set; }
    /// <summary><c>cap</c> (percent of one pcpu, 0 = no cap); null: default (no cap).</summary>
    public int? Cap { get; set; }

    /// <summary>
    /// What xl would print as warnings while reading the config (ignored keys, cmdline overriding root/extra), one
    /// line each, <c>file:line:column: warning: ...</c>. Filled by <see cref="XlDomainConfigReader"/>; not part of the
    /// configuration itself, so it is not serialised.
    /// </summary>
    [JsonIgnore]
    public List<string> Warnings { get; } = [];
}
