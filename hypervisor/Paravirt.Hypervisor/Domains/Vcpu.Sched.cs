using Paravirt.Hypervisor.Scheduling;

namespace Paravirt.Hypervisor;

/// <summary>
/// The vCPU as a credit-scheduler unit: its host thread runs guest code only while it holds a pCPU. It asks for one
/// when it can run (<see cref="AcquirePcpu"/>), gives it back when it blocks, goes down or is paused
/// (<see cref="ReleasePcpu"/>), and at every exit from guest code checks one flag to learn whether the scheduler
/// wants the pCPU back (<see cref="SchedulingPoint"/>): the per-instruction path is untouched.
/// </summary>
public sealed partial class Vcpu : ISchedulerClient
{
    private SchedUnit? _unit;
    private readonly object _gate = new();
    /// <summary>Set by a dispatch, cleared when the pCPU is given back (guarded by <see cref="_gate"/> for waiting).</summary>
    private volatile bool _hasPcpu;
    /// <summary>The scheduler wants this vCPU at a scheduling point.</summary>
    private volatile bool _preemptRequested;
    private bool _revoked;

    internal SchedUnit Unit => _unit ?? throw new InvalidOperationException("vCPU has no scheduling unit");

    private SchedulerDriver Scheduler => _domain.Hypervisor.Scheduler;

    private void InitSchedState() => _unit = Scheduler.AddUnit(_domain.SchedDomain, Id, this);

    /// <summary>The pCPU this vCPU runs on, or last ran on (xl vcpu-list's CPU column).</summary>
    public int Pcpu => _unit?.Pcpu ?? 0;

    /// <summary>True while the scheduler has this vCPU on a pCPU.</summary>
    public bool HoldsPcpu => _hasPcpu;

    public CpuMask HardAffinity => Unit.Hard;
    public CpuMask SoftAffinity => Unit.Soft;

    /// <summary>vcpu_set_hard_affinity / soft (null leaves one unchanged); -EINVAL when <paramref name="hard"/> has no pCPU.</summary>
    public int SetAffinity(CpuMask? hard, CpuMask? soft) => Scheduler.SetAffinity(Unit, hard, soft);

    void ISchedulerClient.Dispatched()
    {
        lock (_gate)
        {
            _hasPcpu = true;
            Monitor.Pulse(_gate);
        }
    }

    void ISchedulerClient.PreemptRequested()
    {
        _preemptRequested = true;
        Cpu.Kick();
    }

    void ISchedulerClient.Released()
    {
        lock (_gate) _hasPcpu = false;
    }

    void ISchedulerClient.Revoked()
    {
        lock (_gate)
        {
            _revoked = true;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>
    /// Something outside this vCPU's thread stopped it from running (pause, shutdown, death, VCPUOP_down): leave guest
    /// code, and leave the run queue, so the thread looks at its state again.
    /// </summary>
    internal void Nudge()
    {
        Cpu.Kick();
        if (_unit is { } u) Scheduler.Sleep(u);
    }

    /// <summary>Wait for a pCPU. False when the wait was revoked (the vCPU should look at its state again).</summary>
    private bool AcquirePcpu()
    {
        if (_hasPcpu) return true;
        lock (_gate) _revoked = false;
        SetRunstate(Runstate.Runnable);
        Scheduler.Wake(Unit);
        lock (_gate)
        {
            while (!_hasPcpu && !_revoked) Monitor.Wait(_gate);
            return _hasPcpu;
        }
    }

    /// <summary>Give the pCPU back (this vCPU cannot run now), or leave the run queue.</summary>
    private void ReleasePcpu()
    {
        Scheduler.Block(Unit);
        _preemptRequested = false;
    }

    /// <summary>After an exit from guest code: a cheap flag test, and a schedule only when the scheduler asked.</summary>
    private void SchedulingPoint()
    {
        if (!_preemptRequested) return;
        _preemptRequested = false;
        Scheduler.Schedule(Unit);
    }

    /// <summary>SCHEDOP_yield: let any unit waiting for this pCPU run first.</summary>
    internal void YieldPcpu()
    {
        if (_hasPcpu) Scheduler.Schedule(Unit, yield: true);
    }

    /// <summary>The thread is leaving for good (the domain is dying): off its pCPU and out of the scheduler.</summary>
    private void LeaveScheduler()
    {
        if (_unit is { } u) Scheduler.RemoveUnit(u);
        lock (_gate) _hasPcpu = false;
    }
}
