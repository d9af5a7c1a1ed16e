using Paravirt.Hypervisor.Scheduling;

namespace Paravirt.Hypervisor.Tests.Scheduling;

/// <summary>
/// Runs a <see cref="CreditScheduler"/> on a simulated clock: units behave as told (spin forever, or run for a while
/// and block), preemption requests are honoured at the next simulated exit (every <see cref="ExitIntervalNs"/>),
/// timers fire exactly at the scheduler's deadlines, and the time each unit spends on each pCPU is sampled.
/// Everything is deterministic: no threads, no wall clock.
/// </summary>
internal sealed class SchedulerSimulation : ISchedulerHost
{
    public const long Ms = 1_000_000;
    public long ExitIntervalNs { get; init; } = 100_000;

    private readonly HashSet<SchedUnit> _preempt = [];
    public readonly List<(long Time, SchedUnit Unit, int Cpu)> Dispatches = [];
    public readonly Dictionary<SchedUnit, long> RunNs = [];
    public readonly Dictionary<(SchedUnit, int), long> RunOnCpuNs = [];
    /// <summary>Per unit: after how long on a pCPU it blocks (null: it spins), and how long it stays blocked.</summary>
    public readonly Dictionary<SchedUnit, (long RunNs, long BlockNs)> Blockers = [];
    private readonly Dictionary<SchedUnit, long> _ranSinceWake = [];
    private readonly Dictionary<SchedUnit, long> _wakeAt = [];

    public SchedulerSimulation(int pcpus) => Scheduler = new CreditScheduler(pcpus, this);

    public CreditScheduler Scheduler { get; }
    public long Now { get; private set; }

    void ISchedulerHost.Dispatch(SchedUnit unit) => Dispatches.Add((Now, unit, unit.Pcpu));
    void ISchedulerHost.Preempt(SchedUnit unit) => _preempt.Add(unit);

    public bool PreemptRequested(SchedUnit u) => _preempt.Contains(u);

    /// <summary>Advance the clock by <paramref name="durationNs"/>, stepping from one exit or timer to the next.</summary>
    public void Run(long durationNs)
    {
        long end = Now + durationNs;
        while (Now < end)
        {
            long step = Math.Min(ExitIntervalNs - Now % ExitIntervalNs, end - Now);
            long deadline = Scheduler.NextDeadline();
            foreach (var (u, at) in _wakeAt) deadline = Math.Min(deadline, at);
            if (deadline > Now && deadline - Now < step) step = deadline - Now;
            Sample(step);
            Now += step;
            foreach (var (u, at) in _wakeAt.ToArray())
            {
                if (at > Now) continue;
                _wakeAt.Remove(u);
                _ranSinceWake[u] = 0;
                Scheduler.Wake(u, Now);
            }
            if (Scheduler.NextDeadline() <= Now) Scheduler.Tick(Now);
            if (Now % ExitIntervalNs == 0) Exits();
        }
    }

    private void Sample(long step)
    {
        for (int cpu = 0; cpu < Scheduler.PcpuCount; cpu++)
        {
            if (Scheduler.Current(cpu) is not { } u) continue;
            RunNs[u] = RunNs.GetValueOrDefault(u) + step;
            RunOnCpuNs[(u, cpu)] = RunOnCpuNs.GetValueOrDefault((u, cpu)) + step;
            _ranSinceWake[u] = _ranSinceWake.GetValueOrDefault(u) + step;
        }
    }

    /// <summary>Every running unit reaches an exit: blockers block when their run is over, preempted units schedule.</summary>
    private void Exits()
    {
        for (int cpu = 0; cpu < Scheduler.PcpuCount; cpu++)
        {
            if (Scheduler.Current(cpu) is not { } u) continue;
            if (Blockers.TryGetValue(u, out var b) && _ranSinceWake.GetValueOrDefault(u) >= b.RunNs)
            {
                _preempt.Remove(u);
                Scheduler.Block(u, Now);
                _wakeAt[u] = Now + b.BlockNs;
                continue;
            }
            if (_preempt.Remove(u)) Scheduler.Schedule(cpu, Now);
        }
    }

    public double Share(SchedUnit u, long overNs) => (double)RunNs.GetValueOrDefault(u) / overNs;

    public void ResetCounters()
    {
        RunNs.Clear();
        RunOnCpuNs.Clear();
        Dispatches.Clear();
    }
}
