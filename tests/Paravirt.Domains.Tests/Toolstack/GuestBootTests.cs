using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Domains.Console;
using Paravirt.Domains.Toolstack;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>The SDK guests run for real on the emulated CPU, through the toolstack, xenstored and xenconsoled.</summary>
public class GuestBootTests
{
    private static string Guest(string relative) => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(ToolstackFixture.HelloKernel)))!, "build", relative);

    private static (DomainEnd End, string Console, string Dmesg) Boot(string kernel, TimeSpan timeout)
    {
        using var memory = new MachineMemory(32768);
        var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        var xs = new XenStoreDaemon();
        var consoled = new XenConsoled(hv, null);
        using var ts = new Domains.Toolstack.Toolstack(hv, xs, consoled);
        var info = ts.Create(new XlConfig.DomainConfig { Name = "g", MemoryMiB = 32, MaxMemMiB = 32, Kernel = kernel }, paused: true);
        using var session = ts.AttachConsole(info.DomId);
        ts.Unpause(info.DomId);
        bool ended = session.End.Wait(timeout);
        var text = new StringBuilder();
        while (session.Output.TryRead(out var chunk)) text.Append(Encoding.UTF8.GetString(chunk));
        var dmesg = hv.Console.Read(false);
        if (!ended) ts.Destroy(info.DomId);
        Assert.That(ended, Is.True, $"guest did not finish in {timeout}; console: {text}\ndmesg:\n{dmesg}");
        hv.Dispose();
        return (session.End.Result, text.ToString(), dmesg);
    }

    [Test]
    public void HelloReadsItsDomidFromXenstoreAndPowersOff()
    {
        var (end, console, dmesg) = Boot(ToolstackFixture.HelloKernel, TimeSpan.FromSeconds(60));
        Assert.That(console, Is.EqualTo("Hello from Paravirt domain 1\n"), dmesg);
        Assert.That(end.Reason, Is.EqualTo(ShutdownReason.Poweroff), dmesg);
    }

    [Test]
    public void AFaultWithNoTrapTableCrashesTheDomain()
    {
        var (end, console, dmesg) = Boot(Guest("tests/crash"), TimeSpan.FromSeconds(60));
        Assert.That(console, Does.Contain("about to fault"), dmesg);
        Assert.That(end.Reason, Is.EqualTo(ShutdownReason.Crash), dmesg);
        // A guest-kernel write to an unmapped page: Xen re-sets error_code.user from the guest's mode (kernel: clear).
        Assert.That(dmesg, Does.Contain("Unhandled page fault fault/trap [#14, ec=0002]"));
        Assert.That(dmesg, Does.Contain("cr2 0000000000000010"));
    }
}
