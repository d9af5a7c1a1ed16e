using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Domains.Console;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Events;

/// <summary>
/// The guest-side event-channel test kernel (guest-sdk/tests/evtchn) on the emulated CPU through the toolstack:
/// every check it makes passes, and once it idles in SCHEDOP_poll its vCPU costs no host CPU.
/// </summary>
public class EventChannelGuestTests
{
    private static string Guest(string relative) => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(ToolstackFixture.HelloKernel)))!, "build", relative);

    [Test]
    public void TheEvtchnGuestPassesEveryCheckAndIdlesForFree()
    {
        using var memory = new MachineMemory(32768);
        var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        try
        {
            var xs = new XenStoreDaemon();
            var consoled = new XenConsoled(hv, null);
            using var ts = new Domains.Toolstack.Toolstack(hv, xs, consoled);
            var info = ts.Create(new XlConfig.DomainConfig { Name = "evtchn", MemoryMiB = 32, MaxMemMiB = 32, Kernel = Guest("tests/evtchn") }, paused: true);
            using var session = ts.AttachConsole(info.DomId);
            ts.Unpause(info.DomId);
            var text = new StringBuilder();
            var deadline = Stopwatch.StartNew();
            while (!text.ToString().Contains("checks passed") && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                while (session.Output.TryRead(out var chunk)) text.Append(Encoding.UTF8.GetString(chunk));
                if (session.End.IsCompleted) break;
                Thread.Sleep(20);
            }
            var console = text.ToString();
            var dmesg = hv.Console.Read(false);
            Assert.That(console, Does.Match(@"evtchn: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{dmesg}");
            Assert.That(console, Does.Not.Contain("FAIL"));

            // Idle: the vCPU waits in SCHEDOP_poll for a VIRQ nobody raises.
            var domain = hv.GetDomain((ushort)info.DomId)!;
            Thread.Sleep(200);
            double before = domain.CpuTimeSeconds;
            var window = Stopwatch.StartNew();
            Thread.Sleep(2000);
            double used = (domain.CpuTimeSeconds - before) / window.Elapsed.TotalSeconds;
            TestContext.Out.WriteLine($"idle guest in SCHEDOP_poll: {used * 100:F4}% of a host core");
            Assert.That(used, Is.LessThan(0.01));
            Assert.That(domain.Vcpus[0].IsBlocked, Is.True);
            ts.Destroy(info.DomId);
        }
        finally
        {
            hv.Dispose();
        }
    }
}
