namespace Paravirt.Hypervisor.Scheduling;

/// <summary>Where a unit is: not wanting a pCPU, waiting on the run queue, or running on one.</summary>
public enum UnitPlacement
{
    Asleep, Queued, Running,
}

/// <summary>
/// A domain as the credit scheduler sees it (struct csched_dom): weight and cap, and how many of its units are
/// active (earning credit). Changed only under the scheduler's lock.
/// </summary>
public sealed class SchedDomain
{
    internal SchedDomain(int id) => Id = id;

    public int Id { get; }
    /// <summary>Relative share under contention, 1..65535 (CSCHED_DEFAULT_WEIGHT 256).</summary>
    public int Weight { get; internal set; } = CreditScheduler.DefaultWeight;
    /// <summary>Most CPU the domain may use, in percent of one pCPU; 0 = no cap.</summary>
    public int Cap { get; internal set; }
    internal readonly List<SchedUnit> Units = [];
    /// <summary>The units earning credit (csched_dom.active_unit), newest first.</summary>
    internal readonly List<SchedUnit> ActiveList = [];
    internal bool Removed;
}

/// <summary>
/// One schedulable vCPU (struct csched_unit): credit, priority, affinity and placement. Fields are changed only
/// under the scheduler's lock; <see cref="Owner"/> is the host's object for it (the <see cref="Vcpu"/>).
/// </summary>
public sealed class SchedUnit
{
    internal SchedUnit(SchedDomain domain, int vcpuId, CpuMask hard, CpuMask soft, object? owner)
    {
        Domain = domain;
        VcpuId = vcpuId;
        Hard = hard;
        Soft = soft;
        Owner = owner;
        Pcpu = hard.First();
    }

    public SchedDomain Domain { get; }
    public int VcpuId { get; }
    public object? Owner { get; }

    /// <summary>Hard affinity: the only pCPUs the unit may run on.</summary>
    public CpuMask Hard { get; internal set; }
    /// <summary>Soft affinity: pCPUs preferred when there is a choice.</summary>
    public CpuMask Soft { get; internal set; }

    public UnitPlacement Placement { get; internal set; }
    /// <summary>The pCPU it runs on, or last ran on (v->processor); the first pCPU of its hard affinity before that.</summary>
    public int Pcpu { get; internal set; }

    public int Credit { get; internal set; }
    public int Priority { get; internal set; } = CreditScheduler.PriUnder;
    /// <summary>CSCHED_FLAG_UNIT_PARKED: over its capped credit; not runnable until accounting gives it credit again.</summary>
    public bool Parked { get; internal set; }
    /// <summary>The host wants it to run (not blocked, down, paused or dying).</summary>
    public bool Awake { get; internal set; }
    /// <summary>On the domain's active list (earning credit at each accounting).</summary>
    public bool Active { get; internal set; }
    internal bool Yielding;
    internal bool Removed;

    /// <summary>burn_credits' bookkeeping: time up to which credit has been charged, and the sub-credit remainder.</summary>
    internal long StartTime;
    internal long Residual;
    /// <summary>When it was last put on a pCPU (the ratelimit's reference).</summary>
    internal long ScheduledAt;
    /// <summary>When it last left a pCPU (the migration delay's reference).</summary>
    internal long LastRanAt = long.MinValue / 2;

    /// <summary>Total time spent holding a pCPU, in nanoseconds (for statistics and tests).</summary>
    public long RunTimeNs { get; internal set; }

    internal bool Eligible => Awake && !Parked && !Removed;

    public override string ToString() => $"d{Domain.Id}v{VcpuId}";
}
