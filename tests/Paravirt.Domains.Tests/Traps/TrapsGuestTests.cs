using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Domains.Console;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Traps;

/// <summary>
/// The guest-side traps test kernel (guest-sdk/tests/traps) on the emulated CPU through the toolstack: trap
/// tables, bounce frames, iret, failsafe, callbacks, privileged-op emulation and event upcalls, each checked from
/// inside the domain; every check passes.
/// </summary>
public class TrapsGuestTests
{
    private static string Guest(string relative) => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(ToolstackFixture.HelloKernel)))!, "build", relative);

    [Test]
    public void TheTrapsGuestPassesEveryCheck()
    {
        using var memory = new MachineMemory(32768);
        var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        try
        {
            var xs = new XenStoreDaemon();
            var consoled = new XenConsoled(hv, null);
            using var ts = new Domains.Toolstack.Toolstack(hv, xs, consoled);
            var info = ts.Create(new XlConfig.DomainConfig { Name = "traps", MemoryMiB = 32, MaxMemMiB = 32, Kernel = Guest("tests/traps") }, paused: true);
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
            while (session.Output.TryRead(out var rest)) text.Append(Encoding.UTF8.GetString(rest));
            var console = text.ToString();
            var dmesg = hv.Console.Read(false);
            Assert.That(console, Does.Match(@"traps: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{dmesg}");
            Assert.That(console, Does.Not.Contain("FAIL"));
            foreach (var line in console.Split('\n').Where(l => l.Contains("round trip") || l.Contains("checks passed"))) TestContext.Out.WriteLine(line.Trim());
            Assert.That(dmesg, Does.Not.Contain("crash"));
            ts.Destroy(info.DomId);
        }
        finally
        {
            hv.Dispose();
        }
    }
}
