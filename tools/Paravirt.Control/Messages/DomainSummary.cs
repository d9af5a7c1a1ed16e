namespace Paravirt.Control.Messages;

/// <summary>A domain as `xl list` shows it; the wire form of the toolstack's DomainInfo.</summary>
public sealed class DomainSummary
{
    public uint DomId { get; set; }
    public string Name { get; set; } = "";
    public Guid Uuid { get; set; }
    public long MemoryMiB { get; set; }
    public int Vcpus { get; set; }
    /// <summary>Six letters r b p s c d, '-' where clear (xl list's State column).</summary>
    public string State { get; set; } = "------";
    public double CpuTimeSeconds { get; set; }
    /// <summary>When the domain was built (UTC), for xl uptime.</summary>
    public DateTime StartTimeUtc { get; set; }
    /// <summary>The balloon target in KiB (memory/target); 0 when unknown.</summary>
    public long TargetKiB { get; set; }
    /// <summary>The most memory the domain may have (memory/static-max) in KiB; 0: no limit (Dom0).</summary>
    public long MaxKiB { get; set; }
    /// <summary>list with Long: the configuration the domain was created from (null for Dom0).</summary>
    public Paravirt.XlConfig.DomainConfig? Config { get; set; }
    /// <summary>Each vCPU (xl vcpu-list); null for a domain without vCPUs of its own (Dom0).</summary>
    public List<VcpuSummary>? VcpuStates { get; set; }
}

/// <summary>One vCPU as `xl vcpu-list` shows it.</summary>
public sealed class VcpuSummary
{
    public int Id { get; set; }
    public bool Online { get; set; }
    public bool Running { get; set; }
    public bool Blocked { get; set; }
    public double CpuTimeSeconds { get; set; }
    /// <summary>The pCPU it runs on, or last ran on.</summary>
    public int Cpu { get; set; }
    /// <summary>Hard and soft affinity as xl prints cpumaps ("all", "0-1,3").</summary>
    public string HardAffinity { get; set; } = "all";
    public string SoftAffinity { get; set; } = "all";
}
