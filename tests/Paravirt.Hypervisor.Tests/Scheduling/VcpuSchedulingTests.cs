using System.Diagnostics;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests.Scheduling;

/// <summary>Real vCPU threads under the scheduler driver (vCPUs that "run" until kicked, like a spinning guest).</summary>
public class VcpuSchedulingTests
{
    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) return false;
            Thread.Sleep(2);
        }
        return true;
    }

    private static Domain Guest(Hypervisor hv, MachineMemory memory, string name)
    {
        var d = hv.CreateDomain(name, Guid.NewGuid(), 1024, 1);
        DomainBuilder.Build(memory, d, new PvBuildRequest(KernelImage.Parse(new TestElf().Build(), "k"), null, "", 1, 2));
        return d;
    }

    [Test]
    public void VcpuThreadsRunGuestCodeOnlyWhileTheyHoldAPcpuAndTakeTurns()
    {
        using var memory = new MachineMemory(16384);
        using var hv = new Hypervisor(memory, new RegistersOnlyPlatform(), pcpus: 1);
        Assert.That(hv.Scheduler.Core.PcpuCount, Is.EqualTo(1));
        var guests = Enumerable.Range(0, 3).Select(i => Guest(hv, memory, $"g{i}")).ToArray();
        foreach (var g in guests) hv.Unpause(g);

        int maxInGuest = 0;
        bool allRan = WaitUntil(() =>
        {
            lock (hv.Scheduler.Lock)
                maxInGuest = Math.Max(maxInGuest, guests.Count(g => g.Vcpus[0].IsRunning));
            return guests.All(g => g.Vcpus[0].CpuTime > TimeSpan.Zero);
        }, TimeSpan.FromSeconds(20));
        Assert.That(allRan, Is.True, "every vCPU got the pCPU in turn");
        Assert.That(maxInGuest, Is.LessThanOrEqualTo(1), "never more vCPUs in guest code than pCPUs");
    }

    [Test]
    public void PausedVcpusGiveTheirPcpusBackAndAnIdleSchedulerStopsItsTimer()
    {
        using var memory = new MachineMemory(16384);
        using var hv = new Hypervisor(memory, new RegistersOnlyPlatform(), pcpus: 2);
        var guests = Enumerable.Range(0, 3).Select(i => Guest(hv, memory, $"g{i}")).ToArray();
        foreach (var g in guests) hv.Unpause(g);
        Assert.That(WaitUntil(() => guests.Count(g => g.Vcpus[0].HoldsPcpu) == 2, TimeSpan.FromSeconds(20)), Is.True);
        foreach (var g in guests) hv.Pause(g);
        Assert.That(WaitUntil(() => guests.All(g => !g.Vcpus[0].HoldsPcpu), TimeSpan.FromSeconds(20)), Is.True, "paused vCPUs hold no pCPU");
        Assert.That(WaitUntil(() =>
        {
            lock (hv.Scheduler.Lock) return hv.Scheduler.Core.NextDeadline() == long.MaxValue;
        }, TimeSpan.FromSeconds(20)), Is.True, "with nothing running and no credit to settle the timer sleeps for good");
    }

    [Test]
    public void DestroyingADomainTakesItsVcpusOutOfTheScheduler()
    {
        using var memory = new MachineMemory(16384);
        using var hv = new Hypervisor(memory, new RegistersOnlyPlatform(), pcpus: 1);
        var a = Guest(hv, memory, "a");
        var b = Guest(hv, memory, "b");
        hv.Unpause(a);
        hv.Unpause(b);
        Assert.That(WaitUntil(() => a.Vcpus[0].HoldsPcpu || b.Vcpus[0].HoldsPcpu, TimeSpan.FromSeconds(20)), Is.True);
        hv.DestroyDomain(a);
        lock (hv.Scheduler.Lock)
        {
            Assert.That(a.SchedDomain.Units, Is.Empty);
            Assert.That(hv.Scheduler.Core.RunQueue.Any(u => u.Domain == a.SchedDomain), Is.False);
        }
        Assert.That(WaitUntil(() => b.Vcpus[0].HoldsPcpu, TimeSpan.FromSeconds(20)), Is.True, "the survivor gets the pCPU");
    }
}
