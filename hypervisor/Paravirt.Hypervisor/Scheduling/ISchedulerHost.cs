namespace Paravirt.Hypervisor.Scheduling;

/// <summary>
/// What the scheduler asks of whoever runs the units. Both calls are made under the scheduler's lock and must not
/// block or call back into the scheduler.
/// </summary>
public interface ISchedulerHost
{
    /// <summary><paramref name="unit"/> now holds a pCPU (<see cref="SchedUnit.Pcpu"/>): its thread may run guest code.</summary>
    void Dispatch(SchedUnit unit);

    /// <summary>
    /// <paramref name="unit"/>'s pCPU is wanted (its slice ended, a higher-priority unit woke, it was parked, paused or
    /// re-pinned): it should reach a scheduling point soon and call <see cref="CreditScheduler.Schedule"/>.
    /// </summary>
    void Preempt(SchedUnit unit);
}
