namespace Paravirt.Hypervisor;

/// <summary>Per-domain SMP views: how many vCPUs are up (what `xl list` counts as the domain's VCPUs).</summary>
public sealed partial class Domain
{
    /// <summary>vCPUs not _VPF_down (VCPUOP_is_up).</summary>
    public int OnlineVcpuCount
    {
        get
        {
            int n = 0;
            foreach (var v in Vcpus)
                if (v.IsUp) n++;
            return n;
        }
    }
}
