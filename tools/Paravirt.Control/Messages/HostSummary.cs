namespace Paravirt.Control.Messages;

/// <summary>The wire form of the toolstack's HostInfo: what `xl info` prints about the host and hypervisor.</summary>
public sealed class HostSummary
{
    public int NrCpus { get; set; }
    public long TotalMemoryMiB { get; set; }
    public long FreeMemoryMiB { get; set; }
    public int XenMajor { get; set; }
    public int XenMinor { get; set; }
    public string XenExtra { get; set; } = "";
    public string XenCaps { get; set; } = "";
    public string VirtCaps { get; set; } = "";
    public string Scheduler { get; set; } = "";
    public int PageSize { get; set; }
    public string CommandLine { get; set; } = "";
}
