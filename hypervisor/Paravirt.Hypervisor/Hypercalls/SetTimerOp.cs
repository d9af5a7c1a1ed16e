using Paravirt.Hypervisor.Time;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_set_timer_op(s_time_t timeout): arm the calling vCPU's singleshot timer for an absolute system time
/// (VIRQ_TIMER when it expires); 0 stops it.
/// </summary>
public static class SetTimerOp
{
    /// <summary>Deadlines more than 2^50 ns (~13 days) ahead are treated as a guest's wrapped jiffies, as Xen does,
    /// and clamped so the timer still fires eventually instead of never.</summary>
    public const long MaxAheadNs = 1L << 50;

    public static long Do(Vcpu v, ulong timeout)
    {
        var timers = VcpuTimers.Of(v);
        if (timeout == 0)
        {
            timers.StopSingleshot();
            return 0;
        }
        long now = SystemClock.Of(v.Domain.Hypervisor).Now();
        long deadline = (long)timeout;
        // A negative deadline is already in the past: fire at once.
        if (deadline < 0) deadline = now;
        else if (deadline - now >= MaxAheadNs) deadline = now + MaxAheadNs;
        timers.SetSingleshot(deadline);
        return 0;
    }
}
