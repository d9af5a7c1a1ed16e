using Paravirt.Hypervisor.Scheduling;

namespace Paravirt.Hypervisor;

/// <summary>The domain as the credit scheduler sees it: weight and cap (xl sched-credit, cpu_weight/cap in xl.cfg).</summary>
public sealed partial class Domain
{
    /// <summary>The scheduler's record of this domain; set once at creation.</summary>
    public SchedDomain SchedDomain { get; internal set; } = null!;

    /// <summary>Credit-scheduler weight (1..65535, default 256).</summary>
    public int SchedWeight { get { lock (Hypervisor.Scheduler.Lock) return SchedDomain.Weight; } }

    /// <summary>Credit-scheduler cap in percent of one pCPU (0 = none).</summary>
    public int SchedCap { get { lock (Hypervisor.Scheduler.Lock) return SchedDomain.Cap; } }

    /// <summary>XEN_DOMCTL_SCHEDOP_putinfo: null leaves a value as it is; -EINVAL (nothing changed) for one out of range.</summary>
    public int SetSchedParams(int? weight, int? cap) => Hypervisor.Scheduler.Adjust(SchedDomain, weight, cap);
}
