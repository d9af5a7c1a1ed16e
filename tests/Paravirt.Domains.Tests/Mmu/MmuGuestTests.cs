using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Domains.Console;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Mmu;

/// <summary>
/// The guest-side PV MMU test kernel (guest-sdk/tests/mmu) on the emulated CPU through the toolstack: every check it
/// makes from inside the domain (page-table updates, pins, base pointers, the M2P, reservations) passes, and a second
/// domain running beside it is untouched.
/// </summary>
public class MmuGuestTests
{
    private static string Guest(string relative) => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(ToolstackFixture.HelloKernel)))!, "build", relative);

    [Test]
    public void TheMmuGuestPassesEveryCheck()
    {
        using var memory = new MachineMemory(32768);
        var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        try
        {
            var xs = new XenStoreDaemon();
            var consoled = new XenConsoled(hv, null);
            using var ts = new Domains.Toolstack.Toolstack(hv, xs, consoled);
            var bystander = ts.Create(new XlConfig.DomainConfig { Name = "bystander", MemoryMiB = 16, MaxMemMiB = 16, Kernel = Guest("tests/spin") }, paused: true);
            var bystanderDomain = hv.GetDomain((ushort)bystander.DomId)!;
            var info = ts.Create(new XlConfig.DomainConfig { Name = "mmu", MemoryMiB = 32, MaxMemMiB = 32, Kernel = Guest("tests/mmu") }, paused: true);
            using var session = ts.AttachConsole(info.DomId);
            ts.Unpause(info.DomId);
            var text = new StringBuilder();
            var deadline = Stopwatch.StartNew();
            while (!text.ToString().Contains("checks passed") && deadline.Elapsed < TimeSpan.FromSeconds(120))
            {
                while (session.Output.TryRead(out var chunk)) text.Append(Encoding.UTF8.GetString(chunk));
                if (session.End.IsCompleted) break;
                Thread.Sleep(20);
            }
            var console = text.ToString();
            var dmesg = hv.Console.Read(false);
            Assert.That(console, Does.Match(@"mmu: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{dmesg}");
            Assert.That(console, Does.Not.Contain("FAIL"));
            TestContext.Out.WriteLine(console.Split('\n').Last(l => l.Contains("checks passed")));
            Assert.That(bystanderDomain.IsShutdown, Is.False);
            Assert.That(hv.GetDomain((ushort)info.DomId)?.CrashMessage, Is.Null, dmesg);
            ts.Destroy(info.DomId);
            ts.Destroy(bystander.DomId);
        }
        finally
        {
            hv.Dispose();
        }
    }
}
