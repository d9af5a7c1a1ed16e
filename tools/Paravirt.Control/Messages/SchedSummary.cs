namespace Paravirt.Control.Messages;

/// <summary>The credit scheduler's cpupool (`Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us`).</summary>
public sealed class SchedPoolSummary
{
    public string Name { get; set; } = "";
    public int TimesliceMs { get; set; }
    public int RatelimitUs { get; set; }
    public int MigrationDelayUs { get; set; }
}

/// <summary>One row of `xl sched-credit`: Name ID Weight Cap.</summary>
public sealed class SchedDomainSummary
{
    public uint DomId { get; set; }
    public string Name { get; set; } = "";
    public int Weight { get; set; }
    public int Cap { get; set; }
}
