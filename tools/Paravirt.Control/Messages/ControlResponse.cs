namespace Paravirt.Control.Messages;

/// <summary>The reply to one request: OK with the data the operation yields, or an error line for the administrator.</summary>
public sealed class ControlResponse
{
    public bool Ok { get; set; }
    /// <summary>Set when not OK: one line saying what was wrong.</summary>
    public string? Error { get; set; }
    /// <summary>create, console: the domain concerned.</summary>
    public DomainSummary? Domain { get; set; }
    /// <summary>list: the domains, in domid order.</summary>
    public List<DomainSummary>? Domains { get; set; }
    /// <summary>dmesg: the console ring text.</summary>
    public string? Text { get; set; }
    /// <summary>wait: how the domain ended.</summary>
    public DomainEndInfo? End { get; set; }
    /// <summary>info: the host and hypervisor.</summary>
    public HostSummary? Host { get; set; }
    /// <summary>block-list: the domain's virtual block devices.</summary>
    public List<DiskSummary>? Disks { get; set; }
    /// <summary>sched-credit, sched-credit-pool: the cpupool's credit parameters.</summary>
    public SchedPoolSummary? SchedPool { get; set; }
    /// <summary>sched-credit: each domain's weight and cap, in domid order.</summary>
    public List<SchedDomainSummary>? SchedDomains { get; set; }

    public static ControlResponse Success() => new() { Ok = true };
    public static ControlResponse Failure(string error) => new() { Ok = false, Error = error };
}
