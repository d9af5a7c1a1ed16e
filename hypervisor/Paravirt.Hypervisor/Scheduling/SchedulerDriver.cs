using System.Diagnostics;

namespace Paravirt.Hypervisor.Scheduling;

/// <summary>What a scheduled thing (a <see cref="Vcpu"/>) hears from the driver. Called under the scheduler's lock.</summary>
internal interface ISchedulerClient
{
    /// <summary>It holds a pCPU now: its host thread may run guest code.</summary>
    void Dispatched();
    /// <summary>It should reach a scheduling point soon (kick it out of guest code).</summary>
    void PreemptRequested();
    /// <summary>It does not hold a pCPU and should not wait for one now: its waiting thread should look again.</summary>
    void Revoked();
    /// <summary>Its pCPU was given away at its own scheduling point.</summary>
    void Released();
}

/// <summary>
/// Runs the <see cref="CreditScheduler"/> against real time and real threads: one lock around the core, a
/// monotonic nanosecond clock, and a timer thread that sleeps until the core's next deadline (and not at all when
/// nothing runs, so idle guests cost no host CPU). vCPU threads hold a pCPU only between a dispatch and the
/// <see cref="Schedule"/> that gives it away; preemption is a kick that makes the vCPU leave guest code at its next
/// block boundary, where the run loop calls <see cref="Schedule"/>.
/// </summary>
public sealed class SchedulerDriver : ISchedulerHost, IDisposable
{
    private readonly object _lock = new();
    private readonly Thread _timer;
    private long _timerDeadline = long.MaxValue;
    private bool _disposed;

    public SchedulerDriver(int pcpus)
    {
        Core = new CreditScheduler(pcpus, this);
        _timer = new Thread(TimerLoop) { IsBackground = true, Name = "credit-timer" };
        _timer.Start();
    }

    /// <summary>The scheduler state. Read it under <see cref="Lock"/>; change it only through the driver.</summary>
    public CreditScheduler Core { get; }

    /// <summary>The scheduler's lock (for consistent reads of <see cref="Core"/>).</summary>
    public object Lock => _lock;

    /// <summary>Nanoseconds on the monotonic clock the scheduler runs on.</summary>
    public static long Now() => (long)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    public SchedDomain AddDomain(int id)
    {
        lock (_lock) return Core.AddDomain(id);
    }

    public void RemoveDomain(SchedDomain d)
    {
        lock (_lock)
        {
            Core.RemoveDomain(d, Now());
            NudgeTimer();
        }
    }

    internal SchedUnit AddUnit(SchedDomain d, int vcpuId, object owner)
    {
        lock (_lock) return Core.AddUnit(d, vcpuId, null, owner);
    }

    internal void RemoveUnit(SchedUnit u)
    {
        lock (_lock)
        {
            Core.RemoveUnit(u, Now());
            NudgeTimer();
        }
    }

    /// <summary>The unit wants a pCPU (it may be dispatched before this returns).</summary>
    internal void Wake(SchedUnit u)
    {
        lock (_lock)
        {
            Core.Wake(u, Now());
            NudgeTimer();
        }
    }

    /// <summary>The unit no longer wants to run; if queued it is dequeued and its waiting thread told.</summary>
    internal void Sleep(SchedUnit u)
    {
        lock (_lock)
        {
            Core.Sleep(u);
            if (u.Placement != UnitPlacement.Running && u.Owner is ISchedulerClient c) c.Revoked();
        }
    }

    /// <summary>The unit's own thread, at a scheduling point: true while it keeps its pCPU.</summary>
    internal bool Schedule(SchedUnit u, bool yield = false)
    {
        lock (_lock)
        {
            if (u.Placement != UnitPlacement.Running) return false;
            if (yield) Core.Yield(u);
            bool keeps = Core.Schedule(u.Pcpu, Now()) == u;
            if (!keeps) (u.Owner as ISchedulerClient)?.Released();
            NudgeTimer();
            return keeps;
        }
    }

    /// <summary>The unit's own thread: it cannot run now (blocked, down, paused, dying); its pCPU goes to the next unit.</summary>
    internal void Block(SchedUnit u)
    {
        lock (_lock)
        {
            bool held = u.Placement == UnitPlacement.Running;
            Core.Block(u, Now());
            if (held) (u.Owner as ISchedulerClient)?.Released();
            NudgeTimer();
        }
    }

    /// <summary>Weight and/or cap (see <see cref="CreditScheduler.Adjust"/>).</summary>
    public int Adjust(SchedDomain d, int? weight, int? cap)
    {
        lock (_lock)
        {
            int rc = Core.Adjust(d, weight, cap, Now());
            NudgeTimer();
            return rc;
        }
    }

    /// <summary>Timeslice, ratelimit and migration delay (see <see cref="CreditScheduler.SetPoolParams"/>).</summary>
    public int SetPoolParams(int? timesliceMs, int? ratelimitUs, int? migrationDelayUs)
    {
        lock (_lock)
        {
            int rc = Core.SetPoolParams(timesliceMs, ratelimitUs, migrationDelayUs);
            NudgeTimer();
            return rc;
        }
    }

    /// <summary>(timeslice ms, ratelimit us, migration delay us) as one consistent read.</summary>
    public (int TimesliceMs, int RatelimitUs, int MigrationDelayUs) PoolParams
    {
        get { lock (_lock) return (Core.TimesliceMs, Core.RatelimitUs, Core.MigrationDelayUs); }
    }

    public int SetAffinity(SchedUnit u, CpuMask? hard, CpuMask? soft)
    {
        lock (_lock)
        {
            int rc = Core.SetAffinity(u, hard, soft, Now());
            NudgeTimer();
            return rc;
        }
    }

    void ISchedulerHost.Dispatch(SchedUnit unit) => (unit.Owner as ISchedulerClient)?.Dispatched();

    void ISchedulerHost.Preempt(SchedUnit unit) => (unit.Owner as ISchedulerClient)?.PreemptRequested();

    /// <summary>Under the lock: wake the timer thread if the core now has an earlier deadline than it sleeps for.</summary>
    private void NudgeTimer()
    {
        if (Core.NextDeadline() < _timerDeadline) Monitor.Pulse(_lock);
    }

    private void TimerLoop()
    {
        lock (_lock)
        {
            while (!_disposed)
            {
                long deadline = Core.NextDeadline();
                long now = Now();
                if (deadline <= now)
                {
                    Core.Tick(now);
                    continue;
                }
                _timerDeadline = deadline;
                if (deadline == long.MaxValue) Monitor.Wait(_lock);
                else Monitor.Wait(_lock, (int)Math.Min(int.MaxValue, (deadline - now + 999_999) / 1_000_000)); // whole ms, rounded up: never a spin
                _timerDeadline = long.MaxValue;
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
        _timer.Join();
    }
}
