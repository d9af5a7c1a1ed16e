using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Scheduling;

namespace Paravirt.Hypervisor.Tests.Scheduling;

/// <summary>The credit scheduler's behaviour on a simulated clock: shares by weight, caps, affinity, boost, slices.</summary>
public class CreditSchedulerTests
{
    private const long Ms = SchedulerSimulation.Ms;

    private static (SchedulerSimulation Sim, SchedUnit[] Units) Spinners(int pcpus, params (int Weight, int Cap)[] domains)
    {
        var sim = new SchedulerSimulation(pcpus);
        var units = new SchedUnit[domains.Length];
        for (int i = 0; i < domains.Length; i++)
        {
            var d = sim.Scheduler.AddDomain(i + 1);
            Assert.That(sim.Scheduler.Adjust(d, domains[i].Weight, domains[i].Cap, 0), Is.Zero);
            units[i] = sim.Scheduler.AddUnit(d, 0);
        }
        foreach (var u in units) sim.Scheduler.Wake(u, sim.Now);
        return (sim, units);
    }

    [Test]
    public void WeightsOf512And256ShareOnePcpuTwoToOne()
    {
        var (sim, u) = Spinners(1, (512, 0), (256, 0));
        sim.Run(300 * Ms); // warm-up: the first accounting periods settle credit
        sim.ResetCounters();
        sim.Run(30_000 * Ms);
        double ratio = (double)sim.RunNs[u[0]] / sim.RunNs[u[1]];
        TestContext.Out.WriteLine($"512:256 on one pCPU over 30 simulated seconds: ratio {ratio:F3}");
        Assert.That(ratio, Is.EqualTo(2.0).Within(0.1), $"shares {sim.Share(u[0], 30_000 * Ms):P1} / {sim.Share(u[1], 30_000 * Ms):P1}");
        Assert.That(sim.Share(u[0], 30_000 * Ms) + sim.Share(u[1], 30_000 * Ms), Is.EqualTo(1.0).Within(1e-9), "the pCPU never idles");
    }

    [Test]
    public void EqualWeightsShareOnePcpuEqually()
    {
        var (sim, u) = Spinners(1, (256, 0), (256, 0), (256, 0));
        sim.Run(300 * Ms);
        sim.ResetCounters();
        sim.Run(30_000 * Ms);
        foreach (var unit in u)
            Assert.That(sim.Share(unit, 30_000 * Ms), Is.EqualTo(1.0 / 3).Within(0.02));
    }

    [Test]
    public void WeightsShareTwoPcpusAmongThreeSpinners()
    {
        // 4 spinners of weights 1:1:1:3 on two pCPUs: the heavy one cannot use more than one pCPU (its peak), and the
        // rest is shared equally by the other three.
        var (sim, u) = Spinners(2, (256, 0), (256, 0), (256, 0), (768, 0));
        sim.Run(300 * Ms);
        sim.ResetCounters();
        sim.Run(30_000 * Ms);
        Assert.That(sim.Share(u[3], 30_000 * Ms), Is.EqualTo(1.0).Within(0.05), "heavy unit: a whole pCPU");
        for (int i = 0; i < 3; i++)
            Assert.That(sim.Share(u[i], 30_000 * Ms), Is.EqualTo(1.0 / 3).Within(0.03), $"unit {i}");
    }

    [TestCase(25)]
    [TestCase(50)]
    [TestCase(80)]
    public void CapLimitsASpinnerOnAnOtherwiseIdlePcpu(int cap)
    {
        var (sim, u) = Spinners(1, (256, cap));
        sim.Run(300 * Ms);
        sim.ResetCounters();
        sim.Run(30_000 * Ms);
        TestContext.Out.WriteLine($"cap {cap}%: {sim.Share(u[0], 30_000 * Ms):P2}");
        Assert.That(sim.Share(u[0], 30_000 * Ms), Is.EqualTo(cap / 100.0).Within(0.03));
    }

    [Test]
    public void CapOf150SpansTwoPcpusForTwoUnits()
    {
        var sim = new SchedulerSimulation(2);
        var d = sim.Scheduler.AddDomain(1);
        Assert.That(sim.Scheduler.Adjust(d, null, 150, 0), Is.Zero);
        var a = sim.Scheduler.AddUnit(d, 0);
        var b = sim.Scheduler.AddUnit(d, 1);
        sim.Scheduler.Wake(a, 0);
        sim.Scheduler.Wake(b, 0);
        sim.Run(300 * Ms);
        sim.ResetCounters();
        sim.Run(30_000 * Ms);
        Assert.That(sim.Share(a, 30_000 * Ms) + sim.Share(b, 30_000 * Ms), Is.EqualTo(1.5).Within(0.06));
    }

    [Test]
    public void RemovingTheCapOfAParkedUnitLetsItRunAtOnce()
    {
        var (sim, u) = Spinners(1, (256, 10));
        for (int i = 0; i < 1000 && !u[0].Parked; i++) sim.Run(1 * Ms);
        Assert.That(u[0].Parked, Is.True, "a spinner capped at 10% is parked once it overspends");
        Assert.That(sim.Scheduler.Current(0), Is.Null);
        Assert.That(sim.Scheduler.Adjust(u[0].Domain, null, 0, sim.Now), Is.Zero);
        Assert.That((u[0].Parked, sim.Scheduler.Current(0)), Is.EqualTo((false, u[0])));
    }

    [Test]
    public void AnUncappedSpinnerUsesTheWholeIdlePcpu()
    {
        var (sim, u) = Spinners(1, (256, 0));
        sim.Run(3_000 * Ms);
        Assert.That(sim.Share(u[0], 3_000 * Ms), Is.EqualTo(1.0));
    }

    [Test]
    public void HardAffinityKeepsUnitsOnTheirPcpus()
    {
        var sim = new SchedulerSimulation(3);
        var s = sim.Scheduler;
        var units = new List<SchedUnit>();
        for (int i = 0; i < 4; i++) units.Add(s.AddUnit(s.AddDomain(i + 1), 0, CpuMask.Of(3, i < 2 ? [2] : [0, 1])));
        foreach (var u in units) s.Wake(u, 0);
        sim.Run(3_000 * Ms);
        for (int i = 0; i < 4; i++)
            for (int cpu = 0; cpu < 3; cpu++)
            {
                long ran = sim.RunOnCpuNs.GetValueOrDefault((units[i], cpu));
                if (!units[i].Hard.Contains(cpu)) Assert.That(ran, Is.Zero, $"unit {i} ran on pCPU {cpu}");
            }
        // The two units pinned to pCPU 2 share it; the two allowed 0-1 get one each.
        Assert.That(sim.Share(units[0], 3_000 * Ms), Is.EqualTo(0.5).Within(0.02));
        Assert.That(sim.Share(units[1], 3_000 * Ms), Is.EqualTo(0.5).Within(0.02));
        Assert.That(sim.Share(units[2], 3_000 * Ms), Is.EqualTo(1.0).Within(0.001));
        Assert.That(sim.Share(units[3], 3_000 * Ms), Is.EqualTo(1.0).Within(0.001));
    }

    [Test]
    public void RepinningARunningUnitMovesItAtItsNextExit()
    {
        var sim = new SchedulerSimulation(2);
        var s = sim.Scheduler;
        var u = s.AddUnit(s.AddDomain(1), 0, CpuMask.Of(2, [0]));
        s.Wake(u, 0);
        sim.Run(10 * Ms);
        Assert.That(s.Current(0), Is.SameAs(u));
        Assert.That(s.SetAffinity(u, CpuMask.Of(2, [1]), null, sim.Now), Is.Zero);
        Assert.That(sim.PreemptRequested(u), Is.True);
        sim.Run(1 * Ms);
        Assert.That(s.Current(0), Is.Null);
        Assert.That(s.Current(1), Is.SameAs(u));
        Assert.That(u.Pcpu, Is.EqualTo(1));
    }

    [Test]
    public void AHardAffinityWithNoPcpuIsRefusedAndChangesNothing()
    {
        var sim = new SchedulerSimulation(2);
        var s = sim.Scheduler;
        var u = s.AddUnit(s.AddDomain(1), 0);
        Assert.That(s.SetAffinity(u, CpuMask.Of(2, []), null, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(s.SetAffinity(u, CpuMask.Of(2, [5]), null, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(u.Hard.IsFull, Is.True);
    }

    [Test]
    public void OutOfRangeWeightOrCapIsRefusedAndChangesNothing()
    {
        var s = new SchedulerSimulation(1).Scheduler;
        var d = s.AddDomain(1);
        Assert.That(s.Adjust(d, 0, null, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(s.Adjust(d, 65536, 10, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(s.Adjust(d, 300, -1, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That((d.Weight, d.Cap), Is.EqualTo((256, 0)));
        Assert.That(s.Adjust(d, 65535, 65535, 0), Is.Zero);
        Assert.That((d.Weight, d.Cap), Is.EqualTo((65535, 65535)));
    }

    [Test]
    public void EqualSpinnersTakeTurnsOfOneThirtyMillisecondTimeslice()
    {
        var (sim, u) = Spinners(1, (256, 0), (256, 0));
        sim.Run(600 * Ms);
        var switches = sim.Dispatches.Where(x => x.Time > 0).Select(x => x.Time).ToArray();
        Assert.That(switches, Is.Not.Empty);
        for (int i = 1; i < switches.Length; i++)
            Assert.That(switches[i] - switches[i - 1], Is.GreaterThanOrEqualTo(30 * Ms).And.LessThanOrEqualTo(30 * Ms + sim.ExitIntervalNs));
    }

    [Test]
    public void AWakingUnitIsBoostedAndPreemptsARunningSpinner()
    {
        var sim = new SchedulerSimulation(1);
        var s = sim.Scheduler;
        var spinner = s.AddUnit(s.AddDomain(1), 0);
        var sleeper = s.AddUnit(s.AddDomain(2), 0);
        s.Wake(spinner, 0);
        sim.Run(50 * Ms + 50_000); // past its first tick the spinner is no longer boosted
        Assert.That(spinner.Priority, Is.LessThan(CreditScheduler.PriBoost));
        s.Wake(sleeper, sim.Now);
        Assert.That(sleeper.Priority, Is.EqualTo(CreditScheduler.PriBoost));
        Assert.That(sim.PreemptRequested(spinner), Is.True, "a boosted unit preempts a running UNDER/OVER one");
        sim.Run(100_000); // the spinner's next exit
        Assert.That(s.Current(0), Is.SameAs(sleeper));
    }

    [Test]
    public void TheRatelimitKeepsAUnitScheduledLessThanOneMillisecondAgo()
    {
        var sim = new SchedulerSimulation(1);
        var s = sim.Scheduler;
        var first = s.AddUnit(s.AddDomain(1), 0);
        var second = s.AddUnit(s.AddDomain(2), 0);
        s.Wake(first, 0);
        s.Wake(second, 0);
        Assert.That(s.Current(0), Is.SameAs(first));
        Assert.That(s.Schedule(0, 400_000), Is.SameAs(first), "0.4 ms in: kept");
        Assert.That(s.NextDeadline(), Is.EqualTo(1 * Ms), "the slice is cut to the end of the ratelimit");
        Assert.That(s.Schedule(0, 1 * Ms), Is.SameAs(second), "1 ms in: the next unit runs");
    }

    [Test]
    public void AnIoBoundUnitGetsThePcpuPromptlyAgainstASpinner()
    {
        // A unit that runs 0.2 ms and then blocks for 5 ms, against a spinner: it wakes boosted each time and waits
        // at most the ratelimit, so it gets its whole demand (about 4%), and the spinner the rest.
        var sim = new SchedulerSimulation(1);
        var s = sim.Scheduler;
        var spinner = s.AddUnit(s.AddDomain(1), 0);
        var io = s.AddUnit(s.AddDomain(2), 0);
        sim.Blockers[io] = (200_000, 5 * Ms);
        s.Wake(spinner, 0);
        s.Wake(io, 0);
        sim.Run(3_000 * Ms);
        double demand = 0.2 / 5.2;
        Assert.That(sim.Share(io, 3_000 * Ms), Is.GreaterThan(demand * 0.8));
        Assert.That(sim.Share(spinner, 3_000 * Ms) + sim.Share(io, 3_000 * Ms), Is.EqualTo(1.0).Within(1e-9));
    }

    [Test]
    public void YieldingHandsThePcpuToAWaitingUnitDespiteTheRatelimit()
    {
        var (sim, u) = Spinners(1, (256, 0), (256, 0));
        var first = sim.Scheduler.Current(0)!;
        var other = u[0] == first ? u[1] : u[0];
        sim.Scheduler.Yield(first);
        Assert.That(sim.Scheduler.Schedule(0, 100_000), Is.SameAs(other));
        Assert.That(sim.Scheduler.RunQueue, Is.EqualTo(new[] { first }));
    }

    [Test]
    public void ABlockedUnitHoldsNoPcpuAndAnIdleSchedulerNeedsNoTimer()
    {
        var sim = new SchedulerSimulation(2);
        var s = sim.Scheduler;
        Assert.That(s.NextDeadline(), Is.EqualTo(long.MaxValue), "nothing ever ran");
        var u = s.AddUnit(s.AddDomain(1), 0);
        s.Wake(u, 0);
        sim.Run(50 * Ms);
        s.Block(u, sim.Now);
        Assert.That(s.Current(0), Is.Null);
        Assert.That(s.Current(1), Is.Null);
        Assert.That(u.Placement, Is.EqualTo(UnitPlacement.Asleep));
        // Its credit refills over a few accounting periods; then it leaves the active list and no timer is needed.
        sim.Run(1_000 * Ms);
        Assert.That(u.Active, Is.False);
        Assert.That(s.NextDeadline(), Is.EqualTo(long.MaxValue));
    }

    [Test]
    public void SleepingAQueuedUnitTakesItOffTheRunQueue()
    {
        var (sim, u) = Spinners(1, (256, 0), (256, 0));
        var queued = sim.Scheduler.RunQueue.Single();
        sim.Scheduler.Sleep(queued);
        Assert.That(sim.Scheduler.RunQueue, Is.Empty);
        Assert.That(queued.Placement, Is.EqualTo(UnitPlacement.Asleep));
        sim.Run(300 * Ms);
        Assert.That(sim.RunNs.GetValueOrDefault(queued), Is.Zero);
    }

    [Test]
    public void RemovingARunningUnitGivesItsPcpuToTheNext()
    {
        var (sim, u) = Spinners(1, (256, 0), (256, 0));
        var running = sim.Scheduler.Current(0)!;
        sim.Scheduler.RemoveUnit(running, 5 * Ms);
        Assert.That(sim.Scheduler.Current(0), Is.Not.Null.And.Not.SameAs(running));
        Assert.That(running.Domain.Units, Is.Empty);
    }

    [Test]
    public void CpuMaskPrintsAsXlDoes()
    {
        Assert.That(CpuMask.All(4).ToString(), Is.EqualTo("all"));
        Assert.That(CpuMask.Of(4, []).ToString(), Is.EqualTo("none"));
        Assert.That(CpuMask.Of(8, [0, 1, 3, 5, 6, 7]).ToString(), Is.EqualTo("0-1,3,5-7"));
        Assert.That(CpuMask.Of(4, [2]).ToString(), Is.EqualTo("2"));
        Assert.That(CpuMask.Of(4, [0, 9]).ToString(), Is.EqualTo("0"), "cpus past the host are dropped");
    }
}
