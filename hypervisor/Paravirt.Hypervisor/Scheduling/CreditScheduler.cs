using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Scheduling;

/// <summary>
/// The credit scheduler (Xen's credit1, xen/common/sched/credit.c) as a pure state machine over a caller-supplied
/// clock in nanoseconds: a fixed set of pCPUs, units (vCPUs) with hard/soft affinity, per-domain weight and cap.
/// <list type="bullet">
/// <item>Credit: every accounting period (one timeslice, 30 ms) the pCPUs' worth of credit (10 per ms per pCPU) is
/// shared among the active domains in proportion to weight × active units, capped by the domain's cap; a running
/// unit burns 10 credits per ms. Credit ≥ 0 is priority UNDER, below 0 OVER; a waking UNDER unit is BOOSTed until
/// its next tick. A capped unit whose credit falls below minus its cap share is parked (not runnable) until
/// accounting brings it back above zero, so the cap holds even on an idle host.</item>
/// <item>Scheduling: highest priority first, FIFO within a priority, a 30 ms timeslice, and a 1 ms ratelimit under
/// which a running unit is not preempted (unless it yields or stops being runnable).</item>
/// </list>
/// Unlike Xen there is one run queue shared by all pCPUs (picking the best unit a pCPU's affinity allows), which
/// gives what credit1's per-pCPU queues plus work stealing aim at without the migration heuristics.
/// Not thread-safe: the caller serialises every call (see <see cref="SchedulerDriver"/>), and the host callbacks are
/// made from inside those calls.
/// </summary>
public sealed class CreditScheduler
{
    /// <summary>CSCHED_DEFAULT_WEIGHT and the domctl's range.</summary>
    public const int DefaultWeight = 256, MinWeight = 1, MaxWeight = 65535;
    /// <summary>CSCHED_PRI_TS_BOOST / UNDER / OVER.</summary>
    public const int PriBoost = 0, PriUnder = -1, PriOver = -2;
    /// <summary>CSCHED_CREDITS_PER_MSEC.</summary>
    public const int CreditsPerMsec = 10;
    /// <summary>CSCHED_DEFAULT_TSLICE_MS, CSCHED_TICKS_PER_TSLICE and the default sched_ratelimit_us.</summary>
    public const int DefaultTimesliceMs = 30, TicksPerTimeslice = 3, DefaultRatelimitUs = 1000;
    /// <summary>CSCHED_MIN_TIMER (XEN_SYSCTL_SCHED_RATELIMIT_MIN): no slice shorter than 100 us.</summary>
    public const long MinTimerNs = 100_000;
    private const long Ms = 1_000_000;

    private sealed class PhysicalCpu
    {
        public SchedUnit? Curr;
        public long SliceEnd;
        /// <summary>The slice ended and the unit was asked to schedule: its end is no longer a deadline (no timer spin
        /// while the unit's thread gets to its scheduling point).</summary>
        public bool SliceEndSignalled;
    }

    private readonly ISchedulerHost _host;
    private readonly PhysicalCpu[] _pcpus;
    private readonly List<SchedUnit> _runq = [];
    private readonly List<SchedDomain> _activeDomains = [];
    private readonly List<SchedDomain> _domains = [];
    private long _weightTotal;
    private long _creditBalance;
    private long _nextTick = long.MinValue / 4, _nextAcct = long.MinValue / 4;

    public CreditScheduler(int pcpus, ISchedulerHost host)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pcpus);
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _pcpus = new PhysicalCpu[pcpus];
        for (int i = 0; i < pcpus; i++) _pcpus[i] = new PhysicalCpu();
        Online = CpuMask.All(pcpus);
    }

    public int PcpuCount => _pcpus.Length;
    /// <summary>Every pCPU (the single cpupool, Pool-0).</summary>
    public CpuMask Online { get; }
    public int TimesliceMs { get; private set; } = DefaultTimesliceMs;
    public int RatelimitUs { get; private set; } = DefaultRatelimitUs;
    /// <summary>
    /// vcpu_migration_delay (default 0): a unit that left a pCPU less than this long ago is "cache hot" and is not
    /// taken by another pCPU, only by its own.
    /// </summary>
    public int MigrationDelayUs { get; private set; }
    public long TimesliceNs => TimesliceMs * Ms;
    /// <summary>__csched_set_tslice: three ticks per slice, or one when the slice is shorter than 3 ms.</summary>
    public long TickPeriodNs => TimesliceNs / (TimesliceMs < TicksPerTimeslice ? 1 : TicksPerTimeslice);
    public long RatelimitNs => RatelimitUs * 1000L;
    /// <summary>prv->credits_per_tslice.</summary>
    public int CreditsPerTimeslice => CreditsPerMsec * TimesliceMs;

    /// <summary>The unit on <paramref name="cpu"/>, or null when it idles.</summary>
    public SchedUnit? Current(int cpu) => _pcpus[cpu].Curr;

    public IReadOnlyList<SchedUnit> RunQueue => _runq;

    // ---- domains and units ------------------------------------------------------------------------------

    public SchedDomain AddDomain(int id)
    {
        var d = new SchedDomain(id);
        _domains.Add(d);
        return d;
    }

    /// <summary>Remove a domain and whatever units it still has.</summary>
    public void RemoveDomain(SchedDomain d, long now)
    {
        ArgumentNullException.ThrowIfNull(d);
        foreach (var u in d.Units.ToArray()) RemoveUnit(u, now);
        d.Removed = true;
        _domains.Remove(d);
    }

    /// <summary>A new unit, asleep, with hard affinity <paramref name="hard"/> (null: every pCPU) and no soft preference.</summary>
    public SchedUnit AddUnit(SchedDomain d, int vcpuId, CpuMask? hard = null, object? owner = null)
    {
        ArgumentNullException.ThrowIfNull(d);
        hard ??= Online;
        if (hard.Size != PcpuCount || !hard.Intersects(Online))
            throw new ArgumentException($"hard affinity {hard} has no pCPU of 0-{PcpuCount - 1}", nameof(hard));
        var u = new SchedUnit(d, vcpuId, hard, Online, owner);
        d.Units.Add(u);
        return u;
    }

    /// <summary>Take a unit out for good (its vCPU is being destroyed): off the queue, off its pCPU, off the active list.</summary>
    public void RemoveUnit(SchedUnit u, long now)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Removed) return;
        u.Removed = true;
        u.Awake = false;
        u.Parked = false;
        if (u.Placement == UnitPlacement.Queued) Dequeue(u);
        else if (u.Placement == UnitPlacement.Running)
        {
            int cpu = u.Pcpu;
            Burn(u, now);
            _pcpus[cpu].Curr = null;
            u.LastRanAt = now;
            u.Placement = UnitPlacement.Asleep;
            DispatchIdle(now);
        }
        if (u.Active) AcctStop(u);
        u.Domain.Units.Remove(u);
    }

    /// <summary>
    /// XEN_DOMCTL_SCHEDOP_putinfo (csched_dom_cntl): set the weight (1..65535) and/or the cap (0..65535, percent of
    /// one pCPU, 0 = none). -EINVAL for a value out of range, and then nothing changes.
    /// </summary>
    public int Adjust(SchedDomain d, int? weight, int? cap, long now)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (weight is < MinWeight or > MaxWeight) return -XenErrno.EINVAL;
        if (cap is < 0 or > ushort.MaxValue) return -XenErrno.EINVAL;
        if (weight is { } w)
        {
            if (d.ActiveList.Count > 0) _weightTotal += (long)(w - d.Weight) * d.ActiveList.Count;
            d.Weight = w;
        }
        if (cap is { } c)
        {
            d.Cap = c;
            if (c == 0)
                foreach (var u in d.Units.ToArray())
                    if (u.Parked) Unpark(u, now);
        }
        return 0;
    }

    /// <summary>XEN_SYSCTL_CSCHED_TSLICE_MIN/MAX, XEN_SYSCTL_SCHED_RATELIMIT_MIN/MAX, XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US.</summary>
    public const int MinTimesliceMs = 1, MaxTimesliceMs = 1000, MinRatelimitUs = 100, MaxRatelimitUs = 500_000, MaxMigrationDelayUs = 100_000;

    /// <summary>
    /// XEN_SYSCTL_SCHEDOP_putinfo (csched_sys_cntl): null leaves a value. -EINVAL, changing nothing, for a timeslice
    /// outside 1..1000 ms, a ratelimit neither 0 nor 100..500000 us or longer than the timeslice, or a migration
    /// delay above 100 ms.
    /// </summary>
    public int SetPoolParams(int? timesliceMs, int? ratelimitUs, int? migrationDelayUs)
    {
        int t = timesliceMs ?? TimesliceMs, r = ratelimitUs ?? RatelimitUs, m = migrationDelayUs ?? MigrationDelayUs;
        if (t is < MinTimesliceMs or > MaxTimesliceMs) return -XenErrno.EINVAL;
        if (r != 0 && r is < MinRatelimitUs or > MaxRatelimitUs) return -XenErrno.EINVAL;
        if (r * 1000L > t * Ms) return -XenErrno.EINVAL;
        if (m is < 0 or > MaxMigrationDelayUs) return -XenErrno.EINVAL;
        (TimesliceMs, RatelimitUs, MigrationDelayUs) = (t, r, m);
        return 0;
    }

    /// <summary>
    /// vcpu_set_hard_affinity / soft (null leaves one as it is). -EINVAL when the hard affinity has no pCPU. A unit
    /// running where it no longer may is made to leave; a queued one may now find an idle pCPU.
    /// </summary>
    public int SetAffinity(SchedUnit u, CpuMask? hard, CpuMask? soft, long now)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (hard is not null && (hard.Size != PcpuCount || !hard.Intersects(Online))) return -XenErrno.EINVAL;
        if (soft is not null && soft.Size != PcpuCount) return -XenErrno.EINVAL;
        if (hard is not null) u.Hard = hard;
        if (soft is not null) u.Soft = soft;
        if (u.Placement == UnitPlacement.Running && !u.Hard.Contains(u.Pcpu)) _host.Preempt(u);
        else if (u.Placement == UnitPlacement.Queued) DispatchIdle(now);
        else if (u.Placement == UnitPlacement.Asleep && !u.Hard.Contains(u.Pcpu)) u.Pcpu = u.Hard.First();
        return 0;
    }

    // ---- wake / sleep / yield / schedule ---------------------------------------------------------------

    /// <summary>
    /// csched_unit_wake: the unit wants to run. An UNDER unit is boosted; it is queued and either put on an idle pCPU
    /// it may use (dispatched at once) or, if it outranks a running unit there, that unit is asked to leave.
    /// </summary>
    public void Wake(SchedUnit u, long now)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Removed) return;
        u.Awake = true;
        if (u.Placement != UnitPlacement.Asleep || u.Parked) return;
        if (u.Priority == PriUnder) u.Priority = PriBoost;
        Enqueue(u);
        Tickle(u, now);
    }

    /// <summary>
    /// csched_unit_sleep: the unit no longer wants to run (blocked, down, paused, dying). Queued: taken off the queue.
    /// Running: asked to reach a scheduling point, where <see cref="Schedule"/> gives its pCPU away.
    /// </summary>
    public void Sleep(SchedUnit u)
    {
        ArgumentNullException.ThrowIfNull(u);
        u.Awake = false;
        if (u.Placement == UnitPlacement.Queued)
        {
            Dequeue(u);
            u.Placement = UnitPlacement.Asleep;
        }
        else if (u.Placement == UnitPlacement.Running) _host.Preempt(u);
    }

    /// <summary>
    /// The running unit's own thread found it cannot run (it blocked, went down, was paused): <see cref="Sleep"/>
    /// and <see cref="Schedule"/> its pCPU at once, without a preemption request.
    /// </summary>
    public void Block(SchedUnit u, long now)
    {
        ArgumentNullException.ThrowIfNull(u);
        u.Awake = false;
        if (u.Placement == UnitPlacement.Running) Schedule(u.Pcpu, now);
        else Sleep(u);
    }

    /// <summary>csched_unit_yield: the next <see cref="Schedule"/> skips the ratelimit and queues it behind one more unit.</summary>
    public void Yield(SchedUnit u)
    {
        ArgumentNullException.ThrowIfNull(u);
        u.Yielding = true;
    }

    /// <summary>
    /// csched_schedule for <paramref name="cpu"/>: charge the current unit, keep it if the ratelimit says so, else
    /// queue it (if still runnable) and run the best queued unit this pCPU may run. Returns the unit now on the pCPU
    /// (the same one, another one — which was dispatched — or null when it idles).
    /// </summary>
    public SchedUnit? Schedule(int cpu, long now)
    {
        var p = _pcpus[cpu];
        var curr = p.Curr;
        if (curr is not null)
        {
            Burn(curr, now);
            long runtime = Math.Max(0, now - curr.ScheduledAt);
            if (!curr.Yielding && RatelimitNs > 0 && curr.Eligible && curr.Hard.Contains(cpu) && runtime < RatelimitNs)
            {
                p.SliceEnd = now + (runtime < MinTimerNs ? MinTimerNs : RatelimitNs - runtime);
                p.SliceEndSignalled = false;
                return curr;
            }
            p.Curr = null;
            curr.LastRanAt = now;
            if (curr.Eligible) Enqueue(curr);
            else curr.Placement = UnitPlacement.Asleep;
            curr.Yielding = false;
        }
        var next = PickFor(cpu, now);
        if (next is not null)
        {
            RunOn(next, cpu, now, continuing: next == curr);
            if (next != curr) _host.Dispatch(next);
        }
        DispatchIdle(now);
        return next;
    }

    // ---- time ------------------------------------------------------------------------------------------

    /// <summary>
    /// The next time <see cref="Tick"/> has work (a credit tick, an accounting period, a slice end), or
    /// long.MaxValue when nothing runs and nothing earns credit: then no timer is needed and an idle host costs nothing.
    /// </summary>
    public long NextDeadline()
    {
        long next = long.MaxValue;
        bool busy = false;
        foreach (var p in _pcpus)
        {
            if (p.Curr is null) continue;
            busy = true;
            if (!p.SliceEndSignalled) next = Math.Min(next, p.SliceEnd);
        }
        if (busy) next = Math.Min(next, _nextTick);
        if (_activeDomains.Count > 0 || busy) next = Math.Min(next, _nextAcct);
        return next;
    }

    /// <summary>
    /// Timer work due at <paramref name="now"/>: the per-pCPU credit tick (csched_tick: boost ends, credit burned,
    /// the unit becomes active), the accounting period (csched_acct), and slice ends (the running unit is asked to
    /// come to <see cref="Schedule"/>).
    /// </summary>
    public void Tick(long now)
    {
        if (now >= _nextTick)
        {
            foreach (var p in _pcpus)
                if (p.Curr is { } u) UnitAcct(u, now);
            _nextTick = now - _nextTick >= TickPeriodNs ? now + TickPeriodNs : _nextTick + TickPeriodNs;
        }
        if (now >= _nextAcct)
        {
            Acct(now);
            _nextAcct = now - _nextAcct >= TimesliceNs ? now + TimesliceNs : _nextAcct + TimesliceNs;
        }
        foreach (var p in _pcpus)
        {
            if (p.Curr is not { } u) continue;
            if (now >= p.SliceEnd && !p.SliceEndSignalled)
            {
                p.SliceEndSignalled = true;
                _host.Preempt(u);
            }
            else if (!u.Eligible || !u.Hard.Contains(u.Pcpu)) _host.Preempt(u);
        }
        DispatchIdle(now);
    }

    // ---- internals -------------------------------------------------------------------------------------

    /// <summary>burn_credits: 10 credits per ms of pCPU time, the remainder carried to the next charge.</summary>
    private static void Burn(SchedUnit u, long now)
    {
        long delta = now - u.StartTime;
        if (delta <= 0) return;
        u.RunTimeNs += delta;
        long val = delta * CreditsPerMsec + u.Residual;
        long credits = val / Ms;
        u.Residual = val % Ms;
        u.Credit = (int)Math.Max(int.MinValue / 2, u.Credit - credits);
        u.StartTime = now;
    }

    /// <summary>csched_unit_acct: a boost lasts until the first tick that finds the unit running; running makes it active.</summary>
    private void UnitAcct(SchedUnit u, long now)
    {
        if (u.Priority == PriBoost) u.Priority = PriUnder;
        Burn(u, now);
        if (!u.Active) AcctStart(u);
    }

    private void AcctStart(SchedUnit u)
    {
        var d = u.Domain;
        u.Active = true;
        d.ActiveList.Insert(0, u);
        _weightTotal += d.Weight;
        if (d.ActiveList.Count == 1) _activeDomains.Insert(0, d);
    }

    private void AcctStop(SchedUnit u)
    {
        var d = u.Domain;
        u.Active = false;
        d.ActiveList.Remove(u);
        _weightTotal -= d.Weight;
        if (d.ActiveList.Count == 0) _activeDomains.Remove(d);
    }

    /// <summary>
    /// csched_acct: share this period's credit (credits_per_tslice per pCPU) among active domains by weight, no more
    /// than each can use (its active units for one period, or its cap), handing what one cannot use to the others;
    /// then set priorities, park capped units that overspent, unpark those back in credit, and retire units that
    /// have more credit than a period's worth (they are not using the CPU).
    /// </summary>
    private void Acct(long now)
    {
        long periodCredits = CreditsPerTimeslice;
        long weightTotal = _weightTotal;
        long creditTotal = periodCredits * PcpuCount;
        if (_creditBalance < 0) creditTotal -= _creditBalance;
        if (weightTotal == 0)
        {
            _creditBalance = 0;
            return;
        }
        long weightLeft = weightTotal, balance = 0;
        bool xtra = false;
        foreach (var d in _activeDomains.ToArray())
        {
            long n = d.ActiveList.Count;
            weightLeft -= d.Weight * n;
            long peak = n * periodCredits;
            if (_creditBalance < 0) peak += (-_creditBalance * d.Weight * n + weightTotal - 1) / weightTotal;
            long capShare = 0;
            if (d.Cap != 0)
            {
                capShare = ((long)d.Cap * periodCredits + 99) / 100;
                if (capShare < peak) peak = capShare;
                capShare = (capShare + n - 1) / n;
            }
            long fair = (creditTotal * d.Weight * n + weightTotal - 1) / weightTotal;
            if (fair < peak) xtra = true;
            else
            {
                if (weightLeft != 0) creditTotal += ((fair - peak) * weightTotal + weightLeft - 1) / weightLeft;
                if (xtra)
                {
                    // Keep domains with credit to spare at the head, so others get first go at it next period.
                    _activeDomains.Remove(d);
                    _activeDomains.Insert(0, d);
                }
                fair = peak;
            }
            fair = (fair + n - 1) / n;
            foreach (var u in d.ActiveList.ToArray())
            {
                u.Credit += (int)fair;
                int credit = u.Credit;
                if (credit < 0)
                {
                    u.Priority = PriOver;
                    if (d.Cap != 0 && credit < -capShare && !u.Parked) Park(u);
                    if (credit < -CreditsPerTimeslice) u.Credit = credit = -CreditsPerTimeslice;
                }
                else
                {
                    u.Priority = PriUnder;
                    if (u.Parked) Unpark(u, now);
                    if (credit > CreditsPerTimeslice)
                    {
                        AcctStop(u);
                        u.Credit = credit /= 2;
                    }
                }
                balance += credit;
            }
        }
        _creditBalance = balance;
        // csched_runq_sort: priorities changed, so the queue is re-sorted (stable: FIFO within a priority).
        var sorted = _runq.OrderByDescending(u => u.Priority).ToArray();
        _runq.Clear();
        _runq.AddRange(sorted);
    }

    private void Park(SchedUnit u)
    {
        u.Parked = true;
        if (u.Placement == UnitPlacement.Queued)
        {
            Dequeue(u);
            u.Placement = UnitPlacement.Asleep;
        }
        else if (u.Placement == UnitPlacement.Running) _host.Preempt(u);
    }

    /// <summary>Back in credit: runnable again if the host wants it to run, without a boost.</summary>
    private void Unpark(SchedUnit u, long now)
    {
        u.Parked = false;
        if (u.Awake && u.Placement == UnitPlacement.Asleep && !u.Removed)
        {
            Enqueue(u);
            Tickle(u, now);
        }
    }

    /// <summary>__runq_insert: after every unit of equal or higher priority; a yielding unit one place further back.</summary>
    private void Enqueue(SchedUnit u)
    {
        int i = 0;
        while (i < _runq.Count && _runq[i].Priority >= u.Priority) i++;
        if (u.Yielding && i < _runq.Count) i++;
        _runq.Insert(i, u);
        u.Placement = UnitPlacement.Queued;
    }

    private void Dequeue(SchedUnit u) => _runq.Remove(u);

    /// <summary>
    /// The first queued unit (highest priority, longest waiting) whose hard affinity allows <paramref name="cpu"/>
    /// and that is not cache hot on another pCPU (__csched_unit_is_migrateable).
    /// </summary>
    private SchedUnit? PickFor(int cpu, long now)
    {
        long delay = MigrationDelayUs * 1000L;
        foreach (var u in _runq)
        {
            if (!u.Hard.Contains(cpu)) continue;
            if (delay > 0 && u.Pcpu != cpu && now - u.LastRanAt < delay) continue;
            return u;
        }
        return null;
    }

    private void RunOn(SchedUnit u, int cpu, long now, bool continuing)
    {
        Dequeue(u);
        var p = _pcpus[cpu];
        p.Curr = u;
        p.SliceEnd = now + TimesliceNs;
        p.SliceEndSignalled = false;
        u.Placement = UnitPlacement.Running;
        u.Pcpu = cpu;
        u.StartTime = now;
        if (!continuing) u.ScheduledAt = now;
        // Timers that stopped while everything idled start again from now.
        if (_nextTick <= now - TickPeriodNs) _nextTick = now + TickPeriodNs;
        if (_nextAcct <= now - TimesliceNs) _nextAcct = now + TimesliceNs;
    }

    /// <summary>
    /// __runq_tickle: put a newly queued unit on an idle pCPU it may use (its soft affinity and its last pCPU
    /// preferred), else ask the lowest-priority unit it outranks on an allowed pCPU to leave.
    /// </summary>
    private void Tickle(SchedUnit u, long now)
    {
        int idle = -1;
        for (int cpu = 0; cpu < _pcpus.Length; cpu++)
        {
            if (!u.Hard.Contains(cpu) || _pcpus[cpu].Curr is not null) continue;
            int score = (cpu == u.Pcpu ? 2 : 0) + (u.Soft.Contains(cpu) ? 4 : 0);
            int best = idle < 0 ? -1 : (idle == u.Pcpu ? 2 : 0) + (u.Soft.Contains(idle) ? 4 : 0);
            if (score > best) idle = cpu;
        }
        if (idle >= 0)
        {
            RunOn(u, idle, now, continuing: false);
            _host.Dispatch(u);
            return;
        }
        int victim = -1;
        for (int cpu = 0; cpu < _pcpus.Length; cpu++)
        {
            if (!u.Hard.Contains(cpu)) continue;
            var curr = _pcpus[cpu].Curr!;
            if (curr.Priority >= u.Priority) continue;
            if (victim < 0 || curr.Priority < _pcpus[victim].Curr!.Priority) victim = cpu;
        }
        if (victim >= 0) _host.Preempt(_pcpus[victim].Curr!);
    }

    /// <summary>Every idle pCPU takes the best queued unit it may run.</summary>
    private void DispatchIdle(long now)
    {
        if (_runq.Count == 0) return;
        for (int cpu = 0; cpu < _pcpus.Length; cpu++)
        {
            if (_pcpus[cpu].Curr is not null) continue;
            var next = PickFor(cpu, now);
            if (next is null) continue;
            RunOn(next, cpu, now, continuing: false);
            _host.Dispatch(next);
        }
    }
}
